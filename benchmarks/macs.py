"""Count the multiply-accumulates (MACs) of an ONNX graph from its inferred tensor shapes.

Only the ops that hold a transformer's arithmetic are counted: MatMul / Gemm / Conv / Einsum and
their quantised forms (MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv). Element-wise ops,
LayerNorm and Softmax are a rounding error next to them and are not MACs. The count is per call
at the given input shapes (batch 1 by default), so it is the "useful work" that a latency is
compared against::

    python benchmarks/macs.py PACKAGE_OR_ONNX [--batch 1]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

__all__ = ["count_macs", "count_macs_openvino", "MacCount", "fix_input_shapes"]

_MATMUL_OPS = ("MatMul", "MatMulInteger", "QLinearMatMul", "MatMulIntegerToFloat", "FusedMatMul")
_CONV_OPS = ("Conv", "ConvInteger", "QLinearConv")
_NODE_OPS = _MATMUL_OPS + _CONV_OPS + ("Gemm", "Einsum")


@dataclass
class MacCount:
    """MACs per op type (``by_op``), their ``total``, and the nodes whose shapes stayed unknown."""

    by_op: dict[str, int] = field(default_factory=dict)
    unknown: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return int(sum(self.by_op.values()))


def _shape(vi: Any) -> tuple[int, ...] | None:
    t = vi.type.tensor_type
    if not t.HasField("shape"):
        return None
    dims = []
    for d in t.shape.dim:
        if not d.HasField("dim_value") or d.dim_value <= 0:
            return None
        dims.append(int(d.dim_value))
    return tuple(dims)


def fix_input_shapes(model: Any, shapes: Mapping[str, tuple[int, ...]] | None = None, batch: int = 1) -> Any:
    """Copy of ``model`` whose graph inputs have concrete dims.

    ``shapes`` gives a full shape per input name; any other input keeps its static dims and has
    every symbolic dim replaced by ``batch`` (the OWL graphs' only dynamic axes are batch/query).
    """
    import onnx

    m = onnx.ModelProto()
    m.CopyFrom(model)
    shapes = dict(shapes or {})
    for inp in m.graph.input:
        dims = inp.type.tensor_type.shape.dim
        want = shapes.get(inp.name)
        if want is not None and len(want) != len(dims):
            raise ValueError(f"expected a rank-{len(dims)} shape for input {inp.name!r}, got {want}")
        for i, d in enumerate(dims):
            static = d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else batch
            value = want[i] if want is not None else static
            d.Clear()
            d.dim_value = int(value)
    # stale value_info from export can pin symbolic dims; inference recomputes them
    del m.graph.value_info[:]
    return m


def _infer(model: Any) -> Any:
    import onnx

    try:
        return onnx.shape_inference.infer_shapes(model, strict_mode=False, data_prop=True)
    except Exception:  # noqa: BLE001 - fall back to ONNX Runtime's symbolic inference
        from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

        return SymbolicShapeInference.infer_shapes(model, auto_merge=True)


def _data_inputs(node: Any) -> list[str]:
    if node.op_type in ("QLinearMatMul", "QLinearConv"):  # data inputs sit at positions 0 and 3
        return [node.input[0], node.input[3]]
    if node.op_type == "Einsum":
        return list(node.input)
    return list(node.input[:2])


def _probe_shapes(model: Any, names: list[str]) -> dict[str, tuple[int, ...]]:
    """Shapes that static inference left open, read from one ONNX Runtime run on zero inputs."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import helper

    m = onnx.ModelProto()
    m.CopyFrom(model)
    have = {o.name for o in m.graph.output}
    inits = {i.name for i in m.graph.initializer}
    names = [n for n in dict.fromkeys(names) if n not in inits and n]
    del m.graph.value_info[:]
    for n in names:
        if n not in have:
            m.graph.output.append(helper.make_empty_tensor_value_info(n))
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # keep every tensor addressable
    so.log_severity_level = 3
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    feeds = {}
    for inp in sess.get_inputs():
        dtype = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32,
                 "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}.get(inp.type, np.float32)
        feeds[inp.name] = np.zeros(inp.shape, dtype)
    outs = sess.run(names, feeds)
    return {n: tuple(int(d) for d in o.shape) for n, o in zip(names, outs)}


def _einsum_macs(equation: str, shapes: list[tuple[int, ...]]) -> int:
    lhs = equation.replace(" ", "").split("->")[0]
    sizes: dict[str, int] = {}
    for term, shape in zip(lhs.split(","), shapes):
        if "..." in term:
            explicit = term.replace("...", "")
            ell = len(shape) - len(explicit)
            term = "".join(f"#{i}" for i in range(ell)) + explicit  # placeholder letters for the ellipsis
            letters = re.findall(r"#\d+|[a-zA-Z]", term)
        else:
            letters = list(term)
        for letter, n in zip(letters, shape):
            sizes[letter] = max(sizes.get(letter, 1), n)
    # a two-operand contraction does one MAC per point of the joint index space
    return math.prod(sizes.values())


def count_macs(model_or_path: Any, shapes: Mapping[str, tuple[int, ...]] | None = None, batch: int = 1,
               *, probe: bool = True) -> MacCount:
    """MACs of one call of an ONNX model at concrete input shapes.

    Args:
        model_or_path: ``onnx.ModelProto`` or a path to an ``.onnx`` file.
        shapes: input name -> full shape; inputs not given get ``batch`` for every symbolic dim.
        batch: value for symbolic dims.
        probe: read shapes that static inference cannot (e.g. behind a data-dependent Reshape) from
            one ONNX Runtime run on zero inputs; without it such nodes are listed in ``unknown``.

    Rules: MatMul ``[..., M, K] x [..., K, N]`` -> ``prod(out) * K``; Gemm -> ``M * N * K``; Conv ->
    ``prod(out) * (C_in / group) * prod(kernel)``; Einsum -> product of every index size
    (operands broadcast). Returns a :class:`MacCount`.
    """
    import onnx

    model = model_or_path if isinstance(model_or_path, onnx.ModelProto) else onnx.load(str(model_or_path))
    model = _infer(fix_input_shapes(model, shapes, batch))
    g = model.graph
    known: dict[str, tuple[int, ...]] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        s = _shape(vi)
        if s is not None:
            known[vi.name] = s
    for init in g.initializer:
        known[init.name] = tuple(int(d) for d in init.dims)

    missing = [n for node in g.node if node.op_type in _NODE_OPS for n in _data_inputs(node) + [node.output[0]]
               if n not in known]
    if missing and probe:
        known.update(_probe_shapes(model, missing))

    counts = MacCount()
    for node in g.node:
        op = node.op_type
        if op not in _NODE_OPS:
            continue
        ins = [known.get(n) for n in _data_inputs(node)]
        out = known.get(node.output[0])
        if any(s is None for s in ins) or (out is None and op != "Einsum"):
            counts.unknown.append(node.name or op)
            continue
        if op in _MATMUL_OPS:
            a = ins[0]
            k = a[-1] if len(a) >= 1 else 1
            macs = math.prod(out) * k
        elif op == "Gemm":
            trans_a = next((at.i for at in node.attribute if at.name == "transA"), 0)
            a = ins[0]
            k = a[0] if trans_a else a[1]
            macs = math.prod(out) * k
        elif op in _CONV_OPS:
            w = ins[1]  # [C_out, C_in / group, *kernel]
            macs = math.prod(out) * math.prod(w[1:])
        else:  # Einsum
            eq = next(at.s.decode() for at in node.attribute if at.name == "equation")
            macs = _einsum_macs(eq, ins)
        counts.by_op[op] = counts.by_op.get(op, 0) + int(macs)
    return counts


def count_macs_openvino(xml_path: str | Path, batch: int = 1) -> MacCount:
    """MACs of one call of an OpenVINO IR (``.xml``) at batch ``batch``, by the same rules as
    :func:`count_macs`, for packages that carry no ONNX graph.

    OpenVINO folds attention into ``ScaledDotProductAttention`` (q ``[B,H,L,E]``, k ``[B,H,S,E]``,
    v ``[B,H,S,Ev]``): counted as ``B*H*L*S*(E + Ev)``, the two MatMuls it replaces. MatMul
    honours ``transpose_a``; Convolution is ``prod(out) * prod(w[1:])``; GroupConvolution
    ``prod(out) * prod(w[2:])``. On OWL-ViT B/32 @ 768 this gives the ONNX count exactly.
    """
    import openvino as ov

    model = ov.Core().read_model(str(xml_path))
    shapes = {}
    for inp in model.inputs:
        ps = inp.get_partial_shape()
        shapes[inp.get_any_name()] = [batch if d.is_dynamic else d.get_length() for d in ps]
    model.reshape(shapes)
    counts = MacCount()
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind not in ("MatMul", "Convolution", "GroupConvolution", "ScaledDotProductAttention"):
            continue
        try:
            ins = [tuple(op.input(i).get_shape()) for i in range(min(op.get_input_size(), 3))]
            out = tuple(op.output(0).get_shape())
        except RuntimeError:  # a dynamic shape left after the reshape
            counts.unknown.append(op.get_friendly_name())
            continue
        if kind == "MatMul":
            a = ins[0]
            k = (a[-2] if op.get_attributes().get("transpose_a") else a[-1]) if a else 1
            macs = math.prod(out) * k
        elif kind == "Convolution":
            macs = math.prod(out) * math.prod(ins[1][1:])
        elif kind == "GroupConvolution":
            macs = math.prod(out) * math.prod(ins[1][2:])
        else:
            q, k_, v = ins
            macs = math.prod(q[:-1]) * k_[-2] * (q[-1] + v[-1])
        counts.by_op[kind] = counts.by_op.get(kind, 0) + int(macs)
    return counts


def _graph_path(target: Path) -> Path:
    if target.is_file():
        return target
    manifest = json.loads((target / "manifest.json").read_text())
    for a in manifest["artifacts"]:
        if a["graph"] == "image_encoder" and a["backend"] == "onnxruntime" and a["precision"] == "fp32":
            return target / a["file"]
    raise SystemExit(f"expected an onnxruntime fp32 image_encoder artifact in {target}, got none")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", type=Path, help="an .onnx file, or a package dir (its FP32 ORT image encoder)")
    ap.add_argument("--batch", type=int, default=1)
    args = ap.parse_args(argv)
    counts = count_macs(_graph_path(args.target), batch=args.batch)
    print(json.dumps({"total_macs": counts.total, "gmacs": round(counts.total / 1e9, 3),
                      "by_op": dict(Counter(counts.by_op).most_common()), "unknown_nodes": counts.unknown}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
