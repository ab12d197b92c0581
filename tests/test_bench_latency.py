"""Result-row schema and derived columns of benchmarks/latency.py; peak.py's GEMM graphs (not timed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench_modules import load_benchmark

latency = load_benchmark("latency")
peak = load_benchmark("peak")


def _cfg(**kw):
    base = dict(kind="groundlite", model="owlvit-base-patch32", image_size=768, threads=2, batch=1, runs=5, warmup=1,
                backend="onnxruntime", precision="int8")
    return latency.RowConfig(**{**base, **kw})


def _raw(times, pre=1.0, enc=80.0, text=0.0, dec=1.0, **extra):
    stages = [{"preprocess_ms": pre, "image_encoder_ms": enc, "text_encoder_ms": text, "decode_ms": dec}
              for _ in times]
    return {"times": list(times), "stages": stages, "load_ms": 900.0, "first_ms": 150.0, "peak_rss_mb": 400.0,
            **extra}


def test_make_row_has_every_key_and_summarises() -> None:
    row = latency.make_row(_cfg(batch=4), _raw([100, 110, 90, 120, 105], chosen_backend="onnxruntime",
                                               cached_phrase_ms=0.01, new_phrase_ms=4.0))
    assert set(latency.ROW_KEYS) <= set(row)
    assert row["p50_ms"] == 105
    assert row["p90_ms"] == pytest.approx(116.0)   # linear interpolation between 110 and 120
    assert row["fps"] == pytest.approx(4 * 1000 / 105)
    assert row["pre_post_pct"] == pytest.approx(100 * 2.0 / 105)
    assert row["error"] is None
    json.dumps(row)  # rows go to JSON lines


def test_make_row_error_keeps_schema() -> None:
    row = latency.make_row(_cfg(), {"error": "timed out after 5 s"})
    assert set(latency.ROW_KEYS) <= set(row)
    assert row["error"] == "timed out after 5 s" and row["p50_ms"] is None


def test_derive_fraction_of_peak_and_speedups() -> None:
    hf = latency.make_row(_cfg(kind="transformers", backend="-", precision="fp32"), _raw([900.0], enc=880.0))
    fp32 = latency.make_row(_cfg(precision="fp32"), _raw([300.0], enc=290.0, chosen_backend="onnxruntime"))
    int8 = latency.make_row(_cfg(), _raw([100.0], enc=90.0, chosen_backend="onnxruntime"))
    macs = {("owlvit-base-patch32", 768): 45_000_000_000}
    peaks = {("onnxruntime", "int8", 2): 1000.0, ("onnxruntime", "fp32", 2): 250.0}
    latency.derive([hf, fp32, int8], macs, peaks)
    assert int8["peak_fraction"] == pytest.approx(45.0 / 0.090 / 1000.0)
    assert fp32["peak_fraction"] == pytest.approx(45.0 / 0.290 / 250.0)
    assert hf["peak_fraction"] == pytest.approx(45.0 / 0.880 / 250.0)  # vs the ORT FP32 peak
    assert int8["x_vs_hf"] == pytest.approx(9.0) and int8["x_vs_fp32"] == pytest.approx(3.0)
    assert "x_vs_fp32" not in fp32 and "x_vs_hf" not in hf


def test_derive_skips_rows_without_timing_or_peak() -> None:
    bad = latency.make_row(_cfg(), {"error": "boom"})
    ok = latency.make_row(_cfg(threads=1), _raw([100.0], chosen_backend="onnxruntime"))
    latency.derive([bad, ok], {("owlvit-base-patch32", 768): 10}, {})
    assert ok["peak_fraction"] is None and ok["image_gmacs"] == pytest.approx(1e-8)
    assert bad["peak_fraction"] is None


def test_parse_model_defaults_to_native_size() -> None:
    pytest.importorskip("torch")
    assert latency.parse_model("owlvit-base-patch32", 20) == ("owlvit-base-patch32", 768, 20)
    assert latency.parse_model("owlv2-base-patch16@480:5", 20) == ("owlv2-base-patch16", 480, 5)


def _has_vnni() -> bool:
    import platform

    if platform.machine() not in ("x86_64", "AMD64", "i686"):
        return True  # the saturation below is an x86 pre-VNNI property
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "")
    except OSError:
        return False
    return any(v in flags.split() for v in ("avx512_vnni", "avx_vnni"))


@pytest.mark.parametrize("kind", peak.GRAPHS)
def test_peak_graphs_compute_the_gemm(kind: str) -> None:
    """The peak graphs run in ONNX Runtime and give x @ W (up to the QDQ rounding of x)."""
    ort = pytest.importorskip("onnxruntime")
    if kind != "fp32" and not _has_vnni():
        # pre-VNNI x86 (AVX2 vpmaddubsw) sums pairs of u8 x s8 products in saturating int16, so ONNX
        # Runtime's U8S8 kernels are not exact integer math there (the reason reduce_range exists)
        pytest.skip("this CPU has no VNNI: ONNX Runtime's U8S8 kernels saturate 16-bit pair sums")
    from onnx import numpy_helper

    model = peak.build_graph(kind, 8, 16, 4)
    weights = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    x = peak._input(kind, 8, 16)
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    y = sess.run(None, {"x": x})[0]
    if kind == "fp32":
        np.testing.assert_allclose(y, x @ weights["w"], rtol=1e-5, atol=1e-4)
    elif kind == "int8-matmulinteger":
        np.testing.assert_array_equal(y, x.astype(np.int32) @ weights["w"].astype(np.int32))
    else:
        xq = np.clip(np.round(x / 0.05), -128, 127) * 0.05  # uint8 with zero point 128 is the same grid
        np.testing.assert_allclose(y, xq @ (weights["w_q"].astype(np.float32) * 0.01), rtol=1e-4, atol=1e-3)


def test_load_peaks_uses_latest_run_on_this_cpu(tmp_path: Path) -> None:
    rows = [
        {"bench": "peak", "run_id": "a", "runtime": "onnxruntime", "precision": "int8", "threads": 2,
         "gmac_per_s": 50.0, "graph": "int8-qdq", "shape": "s", "env": {"cpu": "X"}},
        {"bench": "peak", "run_id": "b", "runtime": "onnxruntime", "precision": "int8", "threads": 2,
         "gmac_per_s": 70.0, "graph": "int8-qdq", "shape": "s", "env": {"cpu": "X"}},
        {"bench": "peak", "run_id": "b", "runtime": "onnxruntime", "precision": "int8", "threads": 2,
         "gmac_per_s": 90.0, "graph": "int8-matmulinteger", "shape": "t", "env": {"cpu": "X"}},
        {"bench": "peak", "run_id": "c", "runtime": "onnxruntime", "precision": "int8", "threads": 2,
         "gmac_per_s": 999.0, "graph": "int8-qdq", "shape": "s", "env": {"cpu": "other"}},
    ]
    path = tmp_path / "peak.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert peak.load_peaks(path, cpu="X") == {("onnxruntime", "int8", 2): 90.0}
    assert peak.load_peaks(tmp_path / "missing.jsonl", cpu="X") == {}


def test_check_targets_reports_met_and_missed() -> None:
    hf = latency.make_row(_cfg(kind="transformers", backend="-", precision="fp32"), _raw([900.0]))
    fp32 = latency.make_row(_cfg(backend="openvino", precision="fp32"), _raw([400.0], chosen_backend="openvino"))
    explicit = latency.make_row(_cfg(backend="openvino"), _raw([260.0], pre=3.0, dec=0.5, chosen_backend="openvino",
                                                             cached_phrase_ms=0.004, new_phrase_ms=12.0))
    auto = latency.make_row(_cfg(backend="auto"), _raw([250.0], pre=3.0, dec=0.5, chosen_backend="openvino",
                                                     cached_phrase_ms=0.004, new_phrase_ms=12.0))
    rows = [hf, fp32, explicit, auto]
    latency.derive(rows, {}, {})
    got = {t["target"]: t for t in latency.check_targets(rows)}
    assert "auto->openvino" in got["row"]["measured"]
    assert got["p50 speed-up vs transformers FP32 eager (x)"]["met"] == "yes"   # 900 / 250 = 3.6
    assert got["p50 speed-up vs our FP32 (x)"]["met"] == "no"                   # 400 / 250 = 1.6
    assert got["p50 speed-up vs our FP32 (x)"]["measured_over_limit"] == pytest.approx(1.6 / 1.8)
    assert got["pre + post processing (% of p50)"]["met"] == "yes"               # 3.5 / 250 = 1.4 %
    assert got["new phrase, INT8 text encoder (ms)"]["met"] == "no"
    assert got["image encoder fraction of INT8 peak"]["met"] == "not measured"
    assert got["peak RSS (MB)"]["measured"] == 400.0
