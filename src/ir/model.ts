/** A model: its ModelProto, the editable main graph, and opset facts. */
import type { ModelProto, TensorProto } from '../onnx/proto';
import { decodeModel, encodeModel } from '../onnx/codec';
import { inlineAll } from '../onnx/external';
import { tensorDims } from '../tensor/values';
import { Graph, tensorValueInfo } from './graph';
import { toNumber } from '../onnx/int64';
import { WnError } from '../errors';
import { validateModel } from './validate';

/** Oldest default-domain opset handled: ONNX Runtime has no opset-6 Div/Mul (no broadcasting). */
export const MIN_OPSET = 7;

export class Model {
  readonly graph: Graph;

  constructor(readonly proto: ModelProto) {
    if (!proto.graph) throw new WnError('not an ONNX model: it has no graph');
    this.graph = new Graph(proto.graph);
  }

  get irVersion(): number { return toNumber(this.proto.ir_version); }

  /** The imported version of a domain ('' and 'ai.onnx' are the default domain); 0 if not imported. */
  opset(domain = ''): number {
    const wanted = domain === 'ai.onnx' ? '' : domain;
    const entry = (this.proto.opset_import ?? []).find((o) => (o.domain === 'ai.onnx' ? '' : o.domain ?? '') === wanted);
    // IR < 3 models have no opset_import: they are opset 1.
    if (!entry) return wanted === '' && this.irVersion < 3 ? 1 : 0;
    return toNumber(entry.version);
  }

  /** The default-domain opset, checked to be one this project can rewrite. */
  defaultOpset(): number {
    const opset = this.opset();
    if (opset < MIN_OPSET) {
      throw new WnError(`the model imports default-domain opset ${opset}; wn-onnx needs opset ${MIN_OPSET} or newer (ONNX Runtime has no opset-6 Div/Mul): upgrade it first, e.g. with onnx.version_converter.convert_version(model, 13)`);
    }
    return opset;
  }

  /** IR < 4: every initializer must also be listed as a graph input. */
  get initializersAreInputs(): boolean { return this.irVersion < 4; }

  /** Adds initializers, listed as graph inputs too where the IR version requires that. */
  addInitializers(tensors: readonly TensorProto[]): void {
    for (const t of tensors) this.graph.addInitializer(t);
    if (this.initializersAreInputs) this.graph.appendGraphInputs(tensors.map(initializerInfo));
  }
}

/** The graph input entry of an initializer (its name, type and dims). */
export function initializerInfo(t: TensorProto) {
  return tensorValueInfo(t.name ?? '', t.data_type ?? 0, tensorDims(t));
}

/**
 * Parses and validates a model from bytes (src/ir/validate.ts). External data: call
 * resolveExternalData on model.proto, then validateModel again.
 */
export function loadModel(bytes: Uint8Array): Model {
  const model = new Model(decodeModel(bytes));
  validateModel(model);
  return model;
}

/** Serializes a model with every tensor inline (a file's bytes: a download, a checkpoint). */
export function saveModel(model: Model): Uint8Array {
  return encodeModel(model.proto, inlineAll);
}
