/**
 * ONNX Runtime's CPU LSTM/GRU/RNN kernels refuse layout = 1 (batch-first tensors). The weights
 * W, R, B of these ops have the same layout either way, so for running such a model the tests
 * rewrite a copy of it: layout = 0 on the node, with Transposes around it so the model keeps its
 * batch-first inputs and outputs. convert and fold themselves always see the original model.
 */
import { decodeModel, encodeModel } from '../../src/onnx/codec';
import type { NodeProto } from '../../src/onnx/proto';
import { intAttribute, makeAttribute } from '../../src/ir/attributes';

const RECURRENT = new Set(['LSTM', 'GRU', 'RNN']);

export function hasBatchFirstRecurrence(nodes: readonly NodeProto[]): boolean {
  return nodes.some((n) => RECURRENT.has(n.op_type ?? '') && intAttribute(n, 'layout', 0) === 1);
}

function transpose(input: string, output: string, perm: number[]): NodeProto {
  return { name: `${output}/layout`, op_type: 'Transpose', domain: '', input: [input], output: [output], attribute: [makeAttribute('perm', perm)] };
}

/** The same model with every batch-first LSTM/GRU/RNN made sequence-first inside Transposes. */
export function sequenceFirstForRuntime(bytes: Uint8Array): Uint8Array {
  const model = decodeModel(bytes);
  const graph = model.graph!;
  const nodes: NodeProto[] = [];
  for (const node of graph.node ?? []) {
    if (!RECURRENT.has(node.op_type ?? '') || intAttribute(node, 'layout', 0) !== 1) {
      nodes.push(node);
      continue;
    }
    const inputs = [...(node.input ?? [])];
    const outputs = [...(node.output ?? [])];
    // X [batch, seq, in] -> [seq, batch, in]; initial_h/initial_c [batch, dirs, hidden] -> [dirs, batch, hidden]
    for (const index of [0, 5, 6]) {
      if (!inputs[index]) continue;
      const moved = `${inputs[index]}/seq_first`;
      nodes.push(transpose(inputs[index], moved, [1, 0, 2]));
      inputs[index] = moved;
    }
    const after: NodeProto[] = [];
    // Y [seq, dirs, batch, hidden] -> [batch, seq, dirs, hidden]; Y_h/Y_c [dirs, batch, hidden] -> [batch, dirs, hidden]
    outputs.forEach((name, index) => {
      if (!name) return;
      const moved = `${name}/seq_first`;
      after.push(transpose(moved, name, index === 0 ? [2, 0, 1, 3] : [1, 0, 2]));
      outputs[index] = moved;
    });
    nodes.push({
      ...node,
      input: inputs,
      output: outputs,
      attribute: [...(node.attribute ?? []).filter((a) => a.name !== 'layout'), makeAttribute('layout', 0)],
    }, ...after);
  }
  graph.node = nodes;
  graph.value_info = [];
  return encodeModel(model);
}
