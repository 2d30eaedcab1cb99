/**
 * addMeanOnlyBatchNorm (paper section 4): after every weight-normalized Conv, ConvTranspose,
 * Gemm and MatMul layer, the pre-activation t is centered per output feature and the layer's
 * bias b added after the centering: y = t − μ[t] + b. As saved (inference form) the layer's
 * bias becomes one marked node, Sub(b, running_mean): ONNX Runtime folds it into a constant
 * bias of the layer, so the step costs nothing at inference. The running mean starts at 0, so
 * right after the pass the model computes what it did. Training lowers the node to the batch
 * mean (src/train/train-mode.ts); fold folds b − running_mean into the bias.
 *
 * Cases (the bias placement is src/wn/layer-bias.ts's, as data-dependent init uses it):
 *   1. the layer's own bias (input C of Conv/ConvTranspose/Gemm, the Add after a MatMul), split
 *      from other readers; a layer without one gets a zero bias;
 *   2. recurrent layers, layers whose bias is not a per-feature constant, Gemm with beta ≠ 1
 *      and MatMul with a batched weight are left out, with the reason;
 *   3. a layer that has mean-only BN already is left as it is.
 */
import type { NodeProto } from '../src/onnx/proto';
import type { Model } from '../src/ir/model';
import { Builder } from '../src/ir/builder';
import { floatTensor, tensorDims } from '../src/tensor/values';
import { addLayerBiases, type LayerBiasReport } from '../src/wn/layer-bias';
import { meanOnlyBnDocString, type MeanOnlyBnSpec } from '../src/wn/mean-only-bn';
import { weightName } from '../src/wn/spec';

export interface MeanOnlyBnReport {
  added: (MeanOnlyBnSpec & { op: string; features: number })[];
  skipped: { node: string; op: string; weight: string; reason: string }[];
  /** Biases made or split on the way (layers that had none, or shared one). */
  biases: Omit<LayerBiasReport, 'skipped'>;
}

export function addMeanOnlyBatchNorm(model: Model): { model: Model; report: MeanOnlyBnReport } {
  const graph = model.graph;
  const opset = model.defaultOpset();
  const { layers, recurrent, report: biases } = addLayerBiases(model);
  const report: MeanOnlyBnReport = { added: [], skipped: [...biases.skipped], biases: { added: biases.added, split: biases.split } };
  const skip = (node: string, op: string, weight: string, reason: string) => report.skipped.push({ node, op, weight, reason });
  for (const layer of recurrent) {
    const reason = 'recurrent layers get no mean-only BN (the paper applies it to feed-forward layers)';
    skip(layer.node.name ?? '', layer.node.op_type ?? '', weightName(layer.spec), reason);
  }
  for (const layer of layers) {
    const { node } = layer;
    const [name, op, weight] = [node.name ?? '', node.op_type ?? '', weightName(layer.spec)];
    if (layer.runningMean) { skip(name, op, weight, 'it has mean-only BN already'); continue; }
    if (layer.biasScale !== 1) { skip(name, op, weight, `Gemm beta = ${layer.biasScale} scales the bias; mean-only BN needs beta = 1`); continue; }
    if (op === 'MatMul' && layer.dims.length > 2) { skip(name, op, weight, 'a batched MatMul weight has features on several axes'); continue; }
    const bias = graph.initializer(layer.bias)!;
    // the node that adds the bias: the layer, or the Add after a MatMul (the bias may reach it through Identity nodes)
    const reader = op === 'MatMul' ? graph.producer(layer.preActivation)! : node;
    const biasInput = op === 'MatMul' ? reader.input!.findIndex((i) => i !== node.output![0]) : 2;
    const spec: MeanOnlyBnSpec = {
      // a node name need not be there: the weight names an unnamed layer
      layer: name || weight,
      bias: layer.bias,
      runningMean: graph.uniqueName(`${layer.bias}_running_mean`),
      featureAxis: op === 'Conv' || op === 'ConvTranspose' ? 1 : -1,
    };
    model.addInitializers([floatTensor(spec.runningMean, bias.data_type!, tensorDims(bias), new Float64Array(layer.features))]);
    const b = new Builder(graph, opset, `${spec.layer}/mean_only_bn`, meanOnlyBnDocString(spec));
    const centered = b.op('Sub', [spec.bias, spec.runningMean], {}, 'bias');
    graph.insertNodes(b.nodes, graph.nodes.indexOf(reader));
    const carriers: NodeProto[] = [];
    for (let p = graph.producer(reader.input![biasInput]); p?.op_type === 'Identity'; p = graph.producer(p.input![0])) carriers.push(p);
    graph.setNodeInput(reader, biasInput, centered);
    // the Identity nodes that carried the bias to the layer go, where nothing else reads them
    graph.removeUnused(carriers);
    report.added.push({ ...spec, op, features: layer.features });
  }
  return { model, report };
}
