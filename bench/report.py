"""Render the results in bench/results/ into BENCHMARKS.md (it takes no options).

.venv/bin/python -m bench.report
"""

from __future__ import annotations

from typing import Any

from . import scoring, train_wall
from .audit_report import audit_section
from .calibration_size import calibration_size_section
from .common import ROOT, WITHOUT_BF16, has_result, read_result
from .first_hour import first_hour_section
from .kept_epoch import kept_epoch_section
from .quality import load_results
from .quality_report import quality_section, quick_start_section
from .seeds import seeds_section
from .shift import shift_section

FLOP_COUNT = "6 × non-embedding params × real tokens; 2 × for frozen lower layers"
TARGETS_NOTE = "Targets are those of the speed issue; a ratio is computed from figures taken in the same run."


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**not met**")


def training_section(report: dict[str, Any]) -> list[str]:
    ref, ours = report["training"]["reference"], report["training"]["sentscore"]
    ttr = report["time_to_reference_accuracy"]
    rows = [
        "## Training",
        "",
        f"{report['epochs']:g} epochs each on {report['data']}; accuracy is on the dev file, for the model each "
        "run keeps at the end. Training seconds exclude evaluation and checkpoint writing on both sides; "
        "wall seconds are the whole run (loading, tokenizing, evaluating, saving). One run each.",
        "",
        "| | reference recipe | sentscore train | ratio |",
        "|---|---:|---:|---:|",
        f"| precision of the matrix products | {ref.get('precision', 'fp32')} | {ours.get('precision', 'fp32')} | |",
        f"| training samples/s | {ref['samples_per_s']:.1f} | {ours['samples_per_s']:.1f} | "
        f"{ours['samples_per_s'] / ref['samples_per_s']:.2f}× |",
        f"| real (non-padding) tokens/s | {ref['real_tokens_per_s']:.0f} | {ours['real_tokens_per_s']:.0f} | "
        f"{ours['real_tokens_per_s'] / ref['real_tokens_per_s']:.2f}× |",
        f"| training seconds | {ref['train_seconds']:.0f} | {ours['train_seconds']:.0f} | |",
        f"| wall seconds | {ref['wall_seconds']:.0f} | {ours['wall_seconds']:.0f} | |",
        f"| peak memory (RSS, MB) | {ref['peak_rss_mb']:.0f} | {ours['peak_rss_mb']:.0f} | "
        f"{ours['peak_rss_mb'] / ref['peak_rss_mb']:.2f}× |",
        f"| dev accuracy of the kept model | {ref['kept_dev_accuracy']:.4f} | {ours['kept_dev_accuracy']:.4f} | "
        f"{100 * (ours['kept_dev_accuracy'] - ref['kept_dev_accuracy']):+.2f} points |",
        f"| achieved GFLOP/s ({FLOP_COUNT}) | {ref['gflops']:.1f} | {ours['gflops']:.1f} | |",
        f"| share of the fp32 matmul peak ({report['matmul_peak_gflops']:.1f} GFLOP/s) | "
        f"{100 * ref['fraction_of_matmul_peak']:.0f}% | {100 * ours['fraction_of_matmul_peak']:.0f}% | |",
        *_bf16_share_row(report, ref, ours),
        f"| machine's fp32 matmul GFLOP/s just before / after the run | {_probes(ref)} | {_probes(ours)} | |",
        f"| training seconds to reach the reference's dev accuracy ({ref['kept_dev_accuracy']:.4f}) | "
        f"{_seconds(ttr['reference'])} | {_seconds(ttr['sentscore'])} | {_ratio(ttr['reference'], ttr['sentscore'])} |",
        "",
        "Dev accuracy every quarter epoch (training seconds so far):",
        "",
        "| run | " + " | ".join(f"epoch {p['epoch']:g}" for p in ours["curve"]) + " |",
        "|---|" + "---:|" * len(ours["curve"]),
    ]
    for name, figures in (("reference recipe", ref), ("sentscore", ours)):
        rows.append(
            f"| {name} | "
            + " | ".join(f"{p['dev_accuracy']:.4f} ({p['train_seconds']:.0f} s)" for p in figures["curve"])
            + " |"
        )
    return rows + [""]


def scoring_section(report: dict[str, Any]) -> list[str]:
    scoring = report["scoring"]
    results = scoring["results"]
    base = results["reference per-sentence loop"]["sentences_per_s"]
    rows = [
        "## Scoring",
        "",
        f"All {scoring['sentences']} dev sentences, the sentscore model trained above; median of "
        f"{report['repeats']} runs, model loaded beforehand.",
        "",
        "| method | sentences/s | vs reference loop | dev accuracy | agrees with ONNX fp32 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        rows.append(
            f"| {name} | {r['sentences_per_s']:.1f} | {r['sentences_per_s'] / base:.2f}× | "
            f"{r['accuracy']:.4f} | {100 * r['agreement_with_fp32']:.1f}% |"
        )
    export = report["export"]
    rows += [
        "",
        f"ONNX export parity: max |logit difference| against PyTorch {export['max_abs_logit_diff']:.1e}; the int8 "
        f"model predicts the same score as fp32 on {100 * export['int8_agreement']:.1f}% of the dev sentences.",
        "",
        "One sentence from the command line, process start to printed score (median of "
        f"{len(next(iter(report['cli'].values()))['seconds'])} runs):",
        "",
        "| command | seconds |",
        "|---|---:|",
    ]
    rows += [f"| {name} | {r['median_seconds']:.2f} |" for name, r in report["cli"].items()]
    return rows + [""]


def targets_section(report: dict[str, Any], paired: dict[str, Any] | None = None) -> list[str]:
    ref, ours = report["training"]["reference"], report["training"]["sentscore"]
    ttr = report["time_to_reference_accuracy"]
    results = report["scoring"]["results"]
    base = results["reference per-sentence loop"]["sentences_per_s"]
    fastest_name = max((n for n in results if n.startswith("sentscore")), key=lambda n: results[n]["sentences_per_s"])
    fastest = results[fastest_name]
    fp32_accuracy = results["sentscore torch"]["accuracy"]
    cli = report["cli"]["sentscore predict (onnx int8, auto)"]["median_seconds"]
    speedup = ours["samples_per_s"] / ref["samples_per_s"]
    accuracy_delta = ours["kept_dev_accuracy"] - ref["kept_dev_accuracy"]
    ttr_ratio = ttr["reference"] / ttr["sentscore"] if ttr["sentscore"] and ttr["reference"] else None
    scoring_loss = fp32_accuracy - fastest["accuracy"]
    rows = [
        "## Targets",
        "",
        TARGETS_NOTE,
        "",
        "| target | measured | verdict |",
        "|---|---|---|",
        f"| training ≥ 2× the reference's samples/s at equal or better dev accuracy | {speedup:.2f}×, "
        f"{100 * accuracy_delta:+.2f} points{_paired_ratio(paired)} | "
        f"{_training_verdict(speedup >= 2 and accuracy_delta >= 0, _paired_ratio_met(paired))} |",
        f"| ≥ 80% of the fp32 matmul peak on real tokens | {100 * ours['fraction_of_matmul_peak']:.0f}%"
        f"{_paired_share(paired)}{_bf16_share(report, ours)} | {_peak_verdict(ours, paired)} |",
        f"| time to the reference's accuracy ≥ 4× shorter | "
        f"{'never reached' if ttr_ratio is None else f'{ttr_ratio:.2f}×'} | "
        f"{verdict(ttr_ratio is not None and ttr_ratio >= 4)} |",
        f"| batch scoring ≥ 4× the reference loop, ≤ 0.5 points accuracy lost vs fp32 | {fastest_name}: "
        f"{fastest['sentences_per_s'] / base:.2f}×, accuracy {100 * -scoring_loss:+.2f} points vs fp32 | "
        f"{verdict(fastest['sentences_per_s'] / base >= 4 and scoring_loss <= 0.005)} |",
        f"| one-sentence CLI ≤ 1 s | {cli:.2f} s | {verdict(cli <= 1.0)} |",
        f"| peak training memory ≤ the reference's | {ours['peak_rss_mb']:.0f} vs {ref['peak_rss_mb']:.0f} MB | "
        f"{verdict(ours['peak_rss_mb'] <= ref['peak_rss_mb'])} |",
    ]
    return rows + [""]


def serve_section(serve: dict[str, Any]) -> list[str]:
    rows = [
        "## Serving (`python -m bench.serve`)",
        "",
        f"`sentscore serve` on 127.0.0.1, N clients each sending one {serve['data']} sentence per request back to "
        f"back for {serve['seconds_per_level']:g} s per level; load from {serve['load_generator']} on the same "
        "2 cores as the server.",
        "",
        "| backend | clients | batching | requests/s | p50 ms | p99 ms | errors |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    verdicts = []
    for backend, alone in serve["model_alone"].items():
        on, off = serve["runs"][f"{backend}, batching on"], serve["runs"][f"{backend}, batching off"]
        for a, b in zip(on, off, strict=True):
            for name, r in (("on", a), ("off", b)):
                rows.append(
                    f"| {backend} | {r['clients']} | {name} | {r['requests_per_s']:.1f} | {r['p50_ms']:.1f} | "
                    f"{r['p99_ms']:.1f} | {r['errors']} |"
                )
        ratio = on[-1]["requests_per_s"] / off[-1]["requests_per_s"]
        met = ratio >= 3 and on[-1]["p99_ms"] <= off[-1]["p99_ms"]
        verdicts.append(
            f"- {backend}: {ratio:.2f}×, p99 {on[-1]['p99_ms']:.0f} vs {off[-1]['p99_ms']:.0f} ms: {verdict(met)}. "
            f"The model alone scores {alone['batch_1_per_s']:.0f} sentences/s one at a time and "
            f"{alone['batch_32_per_s']:.0f}/s in random batches of 32 "
            f"({alone['batch_32_per_s'] / alone['batch_1_per_s']:.2f}×), which bounds what batching can gain."
        )
    rows += [
        "",
        "Target: at 32 clients, batching on gives ≥ 3× the throughput of batching off, with p99 no worse.",
        "",
        *verdicts,
        "",
        "`sentscore serve` batches by default only with the torch backend, where it pays; `--batching` forces it.",
        "",
    ]
    return rows


SET_METHODS = {
    "likeliest": "likeliest levels (default)",
    "contiguous": "contiguous range (until 0.3)",
    "lac": "LAC (threshold on each level)",
}


def score_sets_section(result: dict[str, Any]) -> list[str]:
    """Coverage, size and ordering of the 90% score sets of each method, per configuration and data set."""
    rows = [
        "## Score sets (`python -m bench.score_sets`)",
        "",
        "The 90% sets of three methods from the dev probabilities of the quality runs: each dev set split into "
        "halves at random 200 times, the sets calibrated on one half and measured on the other; mean ± std over "
        'the seeds. "Least/most confident": coverage on the third of the sentences whose likeliest level is '
        'least/most probable; "leaves out a likelier level": sets missing a level more probable than one they '
        'hold; "gap": sets that are not one range.',
        "",
        "| configuration | data | method | coverage | least confident | most confident | mean size "
        "| leaves out a likelier level | gap |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    keys = ("coverage", "coverage_least_confident", "coverage_most_confident", "mean_size")
    for config, record in result.items():
        for data, methods in record["summary"].items():
            for method, name in SET_METHODS.items():
                m = methods[method]
                cells = [f"{m[key][0]:.3f} ± {m[key][1]:.3f}" for key in keys]
                shares = [f"{100 * m[key][0]:.2f}%" for key in ("excludes_more_likely", "has_gap")]
                rows.append(f"| {config} | {data} | {name} | " + " | ".join(cells + shares) + " |")
    return rows + [""]


def quantize_section(result: dict[str, Any]) -> list[str]:
    variants = {name: r for name, r in result.items() if isinstance(r, dict)}
    fp32 = variants["ONNX fp32"]
    rows = [
        "## int8 recipes (`python -m bench.quantize`)",
        "",
        f"Measured {result['started']} on {result['cpu']} ({result['cores']} cores), scoring all {result['data']} "
        "sentences (best of 2). Batch: 200 dev sentences scored alone and inside 32 random others.",
        "",
        "| variant | sentences/s, 1 thread | all cores | vs fp32 (1 thread) | dev accuracy | agrees with fp32 "
        "| scores changed by the batch | largest probability change |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in variants.items():
        batch = r["batch_dependence"]
        rows.append(
            f"| {name} | {r['sentences_per_s_1_thread']:.0f} | {r['sentences_per_s_all_cores']:.0f} | "
            f"{r['sentences_per_s_1_thread'] / fp32['sentences_per_s_1_thread']:.2f}× | {r['accuracy']:.4f} | "
            f"{100 * r['agreement_with_fp32']:.1f}% | {batch['score_changed']} of {batch['sentences']} | "
            f"{batch['max_probability_change']:.4f} |"
        )
    return rows + [""]


def compile_section(result: dict[str, Any]) -> list[str]:
    compiled = {mode: figures for mode, figures in result.items() if mode.startswith("torch.compile")}
    lines = [
        "## torch.compile (`python -m bench.compile`)",
        "",
        f"Measured {result.get('started', 'at an unrecorded time')}. "
        f"Training steps (matrix products in {result.get('precision', 'fp32')}) of the bundled model on "
        f"length-grouped batches of {result['batch_size']} {result['data']} "
        f"sentences, torch {result['torch']}; after the warm-up the modes take turns on the same batches in "
        f"{len(result['rounds'])} rounds (medians):",
        "",
        "| mode | warm-up, first 3 steps (s) | steady tokens/s | ratio to eager, same round |",
        "|---|---:|---:|---:|",
    ]
    for mode, figures in result.items():
        if isinstance(figures, dict):
            lines.append(
                f"| {mode} | {figures['warm_up_seconds']:.1f} | {figures['steady_tokens_per_s']:.0f} | "
                f"{figures['median_ratio_to_eager']:.2f}× |"
            )
    best_mode = max(compiled, key=lambda mode: compiled[mode]["median_ratio_to_eager"])
    round_ratios = [row[best_mode] / row["eager"] for row in result["rounds"]]
    return lines + ["", compile_verdict(best_mode, compiled[best_mode], round_ratios), ""]


def compile_verdict(mode: str, figures: dict[str, float], round_ratios: list[float]) -> str:
    """Whether compiling pays: the eager training time after which the steadier speed repays the warm-up."""
    ratio = figures["median_ratio_to_eager"]
    verdict = (
        f"The fastest compiled mode, {mode}, runs at {ratio:.2f}× eager speed after its warm-up "
        f"(rounds {min(round_ratios):.2f}-{max(round_ratios):.2f}×)"
    )
    if ratio <= 1:
        return verdict + ": compiling does not pay on this CPU, and `torch_compile` stays off by default."
    break_even_minutes = figures["warm_up_seconds"] / (1 - 1 / ratio) / 60
    return verdict + (
        f", which repays its {figures['warm_up_seconds']:.0f} s warm-up only after about {break_even_minutes:.0f} "
        "minutes of training, so `torch_compile` stays off by default."
        if ratio < 1.05
        else f"; it repays its {figures['warm_up_seconds']:.0f} s warm-up after about {break_even_minutes:.0f} "
        "minutes of training, so long runs should set `torch_compile`."
    )


def profile_section(result: dict[str, Any]) -> list[str]:
    peak = result["matmul_peak_gflops"]
    rows = [
        "## Where a training step's time goes (`python -m bench.profile`)",
        "",
        (f"Measured {result['started']} on {result['cpu']}. " if "cpu" in result else "")
        + f"{result['steps']} eager training steps (forward, backward, fused AdamW; matrix products in "
        f"{result.get('precision', 'fp32')}) of the bundled model on "
        f"length-grouped batches of 16 {result['data']} sentences under `torch.profiler`, torch {result['torch']}; "
        f"fp32 matmul peak measured in the same process: {peak:.1f} GFLOP/s"
        + (f", bf16: {result['bf16_matmul_peak_gflops']:.1f}." if "bf16_matmul_peak_gflops" in result else "."),
        "",
        "| operators | share of step time |",
        "|---|---:|",
    ]
    rows += [f"| {name} | {100 * share:.1f}% |" for name, share in result["share"].items()]
    rows += [
        "",
        f"Whole steps reach {result['step_gflops']:.1f} GFLOP/s ({100 * result['step_gflops'] / peak:.0f}% of the "
        f"fp32 peak, counted as {FLOP_COUNT}); the linear layers' matrix products alone "
        f"run at {result['linear_gflops']:.1f} GFLOP/s ({100 * result['linear_gflops'] / peak:.0f}% of it) on these "
        "small, skinny shapes"
        + (
            f". The products run in bf16, so their ceiling is the bf16 peak: steps reach "
            f"{100 * result['step_gflops'] / bf16_peak:.0f}% of it, the products alone "
            f"{100 * result['linear_gflops'] / bf16_peak:.0f}%"
            if (bf16_peak := result.get("bf16_matmul_peak_gflops")) and result.get("precision") == "bf16"
            else ""
        )
        + ". Everything outside them is memory-bound work that counts no FLOPs.",
        "",
    ]
    return rows


def main() -> None:
    import argparse

    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args()
    lines = [
        "# Benchmarks",
        "",
        "Generated by `python -m bench.report` from `bench/results/*.json`. Reproduce with:",
        "",
        "```bash",
        "bash scripts/setup.sh",
        ".venv/bin/python -m bench.run      # training, export, scoring, CLI",
        ".venv/bin/python -m bench.paired   # training throughput in alternating rounds",
        ".venv/bin/python -m bench.serve    # HTTP load",
        ".venv/bin/python -m bench.soak     # overload: 64 clients for 60 s, bounded queue, memory",
        ".venv/bin/python -m bench.streaming --model M  # file scoring in chunks against in one piece",
        ".venv/bin/python -m bench.explain --model M    # explanations: deletion curve and speed",
        ".venv/bin/python -m bench.long_texts           # long texts: windows against truncation",
        ".venv/bin/python -m bench.compile  # torch.compile against eager",
        ".venv/bin/python -m bench.profile  # where a training step's time goes",
        ".venv/bin/python -m bench.scoring [--models M ...]  # each backend's speed and accuracy; the CLI on a file",
        ".venv/bin/python -m bench.train_wall [--rows 0 --epochs 3 --rounds 1]  # the whole train command",
        ".venv/bin/python -m bench.quantize --model bench/results/quality_models/sst5__cls__ordinal_log_loss__s42"
        "   # int8 recipes",
        '.venv/bin/python -m bench.score_sets [--config "0.2 defaults (mean pooling)"]   # score-set methods',
        ".venv/bin/python -m bench.quality all  # model quality: configurations x seeds x data sets",
        ".venv/bin/python -m bench.seeds        # each full-data seed of the defaults against the recipe's mean",
        ".venv/bin/python -m bench.audit run --data sst5 --seed 42   # auditing labels: injected errors (then compare, "
        "clean, folds, real)",
        ".venv/bin/python -m bench.report   # this file",
        "```",
        "",
    ]
    if has_result("bench"):
        report = read_result("bench")
        m = report["machine"]
        lines += [
            f"Measured {report['started']} on {m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads), "
            f"{m['memory_gb']} GB; Python {m['python']}, torch {m['torch']}, transformers {m['transformers']}, "
            f"onnxruntime {m['onnxruntime']}. Model: the bundled all-MiniLM-L6-v2. Data: {report['data']}."
            + (
                f" The training runs (and the model scored) were reused from an earlier run on the same machine "
                f"(`--skip-training`, training started {report['training_started']})."
                if report.get("training_started") != report["started"]
                else ""
            ),
            "",
        ]
        paired = read_result("paired") if has_result("paired") else None
        lines += targets_section(report, paired) + training_section(report)
        if paired:
            lines += paired_section(paired)
        lines += scoring_section(report)
    results = load_results()
    lines += quality_section(results) + seeds_section(results) + shift_section(results) + kept_epoch_section(results)
    for name, precision in (("quick_start", "fp32"), ("quick_start_bf16", "bf16")):
        if has_result(name):
            lines += quick_start_section(read_result(name), precision)
    if has_result("soups"):
        lines += soups_section(read_result("soups"))
    if has_result("score_sets"):
        lines += score_sets_section(read_result("score_sets"))
    if has_result("calibration_size"):
        lines += calibration_size_section(read_result("calibration_size"))
    if has_result("first_hour"):
        lines += first_hour_section(read_result("first_hour"))
    lines += train_wall.section()
    for name in ("scoring", "scoring" + WITHOUT_BF16):
        if has_result(name):
            lines += scoring.section(read_result(name))
    if has_result("quantize"):
        lines += quantize_section(read_result("quantize"))
    if has_result("profile"):
        lines += profile_section(read_result("profile"))
    if has_result("compile"):
        lines += compile_section(read_result("compile"))
    if has_result("serve"):
        lines += serve_section(read_result("serve"))
    if has_result("soak"):
        lines += soak_section(read_result("soak"))
    for name in ("streaming", "streaming_1m"):
        if has_result(name):
            lines += streaming_section(read_result(name), name)
    if has_result("processes"):
        lines += processes_section(read_result("processes"))
    for name in ("explain_sst5", "explain"):
        if has_result(name):
            lines += explain_section(read_result(name))
    if has_result("long_texts"):
        lines += long_texts_section(read_result("long_texts"))
    lines += long_text_training_section(load_results())
    if has_result("audit"):
        lines += audit_section(read_result("audit"))
    if has_result("tuning") and "search" in read_result("tuning"):
        earlier = read_result("tuning_before_guard") if has_result("tuning_before_guard") else None
        lines += tuning_section(read_result("tuning"), earlier)
    (ROOT / "BENCHMARKS.md").write_text("\n".join(lines))
    print(f"wrote {ROOT / 'BENCHMARKS.md'}")


def long_texts_section(result: dict[str, Any]) -> list[str]:
    lines = [
        "## Long texts: windows against truncation",
        "",
        f"`python -m bench.long_texts` ({result['when']}, {result['machine']['cpu']}): SST-5 dev scored by "
        "`sentscore evaluate` from each text's first max_length tokens (`--long-texts truncate`) and from "
        "overlapping windows whose distributions are averaged (`windows`, the default). The max_length 16 model "
        "was trained with 16 tokens (bench.quality, seed 42), so that most sentences are long texts to it.",
        "",
        "| model | texts longer than max_length | scored | accuracy | macro-F1 | QWK | MAE |",
        "|---|---:|---|---:|---:|---:|---:|",
    ]
    for name, run in result["runs"].items():
        for how in ("truncate", "windows"):
            m = run[how]
            lines.append(
                f"| {name} | {run['long_texts']['count']} of {run['n']} | {how} | {m['accuracy']:.4f} | "
                f"{m['macro_f1']:.4f} | {m['qwk']:.4f} | {m['mae']:.4f} |"
            )
    return [*lines, ""]


def explain_section(result: dict[str, Any]) -> list[str]:
    m = result["machine"]
    lines = [
        "## Explanations: are the words they name the ones that matter?",
        "",
        f"`python -m bench.explain` ({result['when']}, {m['cpu']}, model `{result['model']}`, "
        f"{result['sentences']} sentences of `{result['data']}` with 4 words or more, {result['mean_words']:.1f} "
        "words on average): the expected score's mean change when the k words with the largest weights are "
        "removed, against k words drawn at random (3 draws). Explaining took "
        f"{result['explain_seconds']:.1f} s ({result['explained_per_s']:.1f} sentences/s: a sentence of n words "
        f"is scored n + 1 times; {result.get('conditions', 'conditions not recorded')}).",
        "",
        "| words removed | top-weighted: mean abs change | random: mean abs change | ratio |",
        "|---:|---:|---:|---:|",
    ]
    for point in result["curve"]:
        top, rand = point["top_mean_abs_change"], point["random_mean_abs_change"]
        lines.append(f"| {point['k']} | {top:.3f} | {rand:.3f} | {top / rand:.1f}× |")
    return [*lines, ""]


def streaming_section(result: dict[str, Any], name: str = "streaming") -> list[str]:
    m = result["machine"]
    lines = [
        "## Scoring a file in chunks" + (", up to a million rows" if name != "streaming" else ""),
        "",
        f"`python -m bench.streaming` ({result['when']}, {m['cpu']}, {result['threads']} threads, model "
        f"`{result['model']}`): `Scorer.score_file`, which reads, scores and writes 8192 rows at a time, against "
        "reading the file whole, scoring and writing it (0.2's way), and against `score_file` in as many "
        "worker processes of one thread each as there are threads (`predict --workers`; the peak is the "
        "parent's, each worker holds its own model besides), each in a fresh process.",
        "",
        "| rows | way | sentences/s | peak RSS MB | same scores as in one piece |",
        "|---:|---|---:|---:|---|",
    ]
    if result.get("note"):
        lines[2] += " " + result["note"]
    for run in result["runs"]:
        same = ""
        if "score_agreement" in run:
            same = f"{run['score_agreement']:.2%} (confidence within {run['max_confidence_difference']:.1e})"
        elif "same_output" in run:
            same = "identical file" if run["same_output"] else "not compared"
        lines.append(
            f"| {run['rows']} | {run['way']} | {run['sentences_per_s']:.0f} | {run['peak_rss_mb']:.0f} | {same} |"
        )
    return [*lines, ""]


def seconds(values: list[float]) -> str:
    import statistics

    mean = statistics.fmean(values)
    return f"{mean:.1f} ± {statistics.stdev(values):.1f}" if len(values) > 1 else f"{mean:.1f}"


def processes_section(result: dict[str, Any]) -> list[str]:
    from .quality_report import spread

    m = result["machine"]
    lines = [
        "## Training: 2 processes x 1 thread against 1 process x 2 threads",
        "",
        f"`python -m bench.processes` ({result['when']}, {m['cpu']}, {result['cores']} cores): "
        f"{result['sentences']} SST-5 training sentences, {result['epochs']} epoch(s), a global batch of 16 either "
        "way: `torchrun --nproc_per_node 2 -m sentscore train` with 1 thread and 8 sentences per process (gloo), "
        "against `sentscore train` with 2 threads; alternated, mean ± std over the repeats.",
        "",
        "| way | runs | wall s | training s | validation accuracy | QWK |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    ways = sorted({run["way"] for run in result["runs"]})
    for way in ways:
        runs = [run for run in result["runs"] if run["way"] == way]
        lines.append(
            f"| {way} | {len(runs)} | {seconds([r['wall_seconds'] for r in runs])} | "
            f"{seconds([r['train_seconds'] for r in runs])} | {spread([r['accuracy'] for r in runs])} | "
            f"{spread([r['qwk'] for r in runs])} |"
        )
    return [*lines, ""]


def long_text_training_section(results: list[dict[str, Any]]) -> list[str]:
    from .quality_report import spread

    readings = {
        "mean, ordinal_log_loss, max_length 16": "truncate (the default)",
        "mean, ordinal_log_loss, max_length 16, head_tail": "head_tail",
        "mean, ordinal_log_loss, max_length 16, windows": "windows",
    }
    found = {name: [r for r in results if r["data"] == "sst5" and r["config"] == name] for name in readings}
    if not any(found.values()):
        return []
    lines = [
        "## Long texts in training: truncation, head and tail, or every window",
        "",
        "`python -m bench.quality` runs on SST-5 with `max_length` 16 (about three in four training sentences are "
        "longer), `train_long_texts` each way, scored on SST-5 dev with windows (the default); mean ± std over "
        "seeds. Training seconds are rough: other runs shared the 2 cores.",
        "",
        "| training reads a long text | seeds | accuracy | macro-F1 | QWK | MAE | training s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, runs in found.items():
        if runs:
            cells = " | ".join(spread([r["dev"][k] for r in runs]) for k in ("accuracy", "macro_f1", "qwk", "mae"))
            seconds = spread([r["train_seconds"] for r in runs]).split(" ± ")[0]
            lines.append(f"| {readings[name]} | {len(runs)} | {cells} | {float(seconds):.0f} |")
    return [*lines, ""]


def soups_section(result: dict[str, Any]) -> list[str]:
    import statistics

    rows = [
        "### Weight soups of the seeds' models (`bench.soups`, removed with the option in 0.4)",
        "",
        f"On {result['cpu']}, {result['finished']}: the models bench.quality kept for one configuration's seeds, "
        "averaged weight by weight into one model (what `ensemble: N` with `ensemble_average: weights` did "
        "within one training until 0.4) and scored on "
        "dev, beside the mean of the members. Here the seeds also changed the validation split (and, for 64 per "
        "level, the training sample).",
        "",
        "| models: configuration | seeds | accuracy | macro-F1 | QWK | MAE |",
        "|---|---|---:|---:|---:|---:|",
    ]
    keys = ("accuracy", "macro_f1", "qwk", "mae")
    for row in result["rows"]:
        seeds = ", ".join(str(seed) for seed in row["seeds"])
        members = " | ".join(f"{statistics.fmean(row['members'][k]):.4f}" for k in keys)
        soup = " | ".join(f"{row['soup'][k]:.4f}" for k in keys)
        rows.append(f"| members: {row['group']} | {seeds} | {members} |")
        rows.append(f"| **soup**: {row['group']} | {seeds} | {soup} |")
    return rows + [""]


def tuning_section(result: dict[str, Any], earlier: dict[str, Any] | None = None) -> list[str]:
    """The search and its comparison; ``earlier``, a search run before `tune` kept the config as given when
    no trial beat it by more than the validation noise, is shown beside it."""
    from .quality_report import spread

    search = result["search"]
    params = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in search["best_params"].items())
    params = params or "the config as given (no trial beat it by more than the validation interval's half-width)"
    lines = [
        "## Tuning against the defaults",
        "",
        f"`python -m bench.tuning` ({result['when']}, {result['machine']['cpu']}): `sentscore.tuning.tune` on "
        f"{result['train']}, validating on its own 20% split: {search['trials_done']} trials finished and "
        f"{search['trials_pruned']} stopped early in {search['search_seconds'] / 60:.0f} minutes (asked: "
        f"{result['trials_asked']} trials, {result['timeout_min']:.0f} minutes). Best validation "
        f"{search['metric']}: {search['best_validation_value']:.4f} with {params}. Then the defaults and that "
        "configuration, trained on the same sample with each seed, scored on SST-5 dev (never seen by the search):",
        "",
        "| configuration | seeds | accuracy | macro-F1 | QWK | MAE |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    if not search["best_params"]:
        lines[2] += " The search recommended the defaults themselves, so there is nothing else to compare."
    if earlier is not None:
        found = earlier["search"]
        lines[2] += (
            f" An earlier search of the same sample, before `tune` kept the config as given unless beaten by more "
            "than the validation interval's half-width, recommended its best trial "
            f"({found['best_validation_value']:.4f} validation accuracy); its row shows how that did on dev."
        )
    rows = [("defaults", result), ("tuned", result)]
    if earlier is not None:
        rows.append(("tuned (earlier search, no guard)", earlier))
    for label, source in rows:
        name = label.split(" ")[0]
        runs = [run for run in source.get("runs", {}).values() if run["name"] == name]
        if runs:
            cells = " | ".join(spread([r["dev"][k] for r in runs]) for k in ("accuracy", "macro_f1", "qwk", "mae"))
            lines.append(f"| {label} | {len(runs)} | {cells} |")
    return [*lines, ""]


def soak_section(soak: dict[str, Any]) -> list[str]:
    limits = soak["limits"]
    return [
        "## Soak under overload",
        "",
        f"`python -m bench.soak` ({soak['started']}): {soak['clients']} concurrent Python clients for "
        f"{soak['seconds']:.0f} s on 127.0.0.1, one in eight sending 64 sentences of {limits['max_chars'] // 2} "
        f"characters, the rest one sentence; the server with `--max-queue {limits['max_queue']}` and "
        f"`--request-timeout-s {limits['request_timeout_s']}`, backend {soak['backend']}. The clients share the "
        "2 cores with the server.",
        "",
        "| answered | answered/s | p50 ms | p99 ms | 503 (refused at once) | other statuses | connection errors "
        "| server RSS, first third → last third of the run |",
        "|---:|---:|---:|---:|---:|---:|---:|---|",
        f"| {soak['ok']} | {soak['answered_per_s']:.1f} | {soak['p50_ms']:.0f} | {soak['p99_ms']:.0f} | "
        f"{soak['503']} | {soak['other']} | {soak['errors']} | {soak['rss_first_third_mb']:.0f} MB → "
        f"{soak['rss_last_third_mb']:.0f} MB (max {max(soak['rss_mb']):.0f}) |",
        "",
    ]


def _paired_ratio(paired: dict[str, Any] | None) -> str:
    if not paired:
        return ""
    ratio = paired["summary"]["samples_per_s_ratio"]
    return (
        f" (alternating rounds, `bench.paired`: {ratio['median']:.2f}×, rounds {ratio['min']:.2f}-{ratio['max']:.2f}×)"
    )


def _training_verdict(full_run_met: bool, paired_met: bool) -> str:
    if full_run_met and not paired_met:
        return "**borderline**: met in the full run, not in alternating rounds"
    return verdict(full_run_met and paired_met)


def _paired_ratio_met(paired: dict[str, Any] | None) -> bool:
    """A full run's ratio counts only where the drift-proof rounds agree (when they were measured)."""
    return paired is None or paired["summary"]["samples_per_s_ratio"]["median"] >= 2


def _bf16_share_row(report: dict[str, Any], ref: dict[str, Any], ours: dict[str, Any]) -> list[str]:
    if "bf16_matmul_peak_gflops" not in report or "bf16" not in (ref.get("precision"), ours.get("precision")):
        return []
    shares = [
        f"{100 * side['fraction_of_bf16_matmul_peak']:.0f}%" if side.get("precision") == "bf16" else "(fp32 steps)"
        for side in (ref, ours)
    ]
    return [
        f"| share of the bf16 matmul peak ({report['bf16_matmul_peak_gflops']:.1f} GFLOP/s) | {shares[0]} | "
        f"{shares[1]} | |"
    ]


def _bf16_share(report: dict[str, Any], ours: dict[str, Any]) -> str:
    if ours.get("precision") != "bf16" or "bf16_matmul_peak_gflops" not in report:
        return ""
    return (
        f"; the steps multiply in bf16, whose peak here is {report['bf16_matmul_peak_gflops']:.0f} GFLOP/s: "
        f"{100 * ours['fraction_of_bf16_matmul_peak']:.0f}% of that"
    )


def _peak_verdict(ours: dict[str, Any], paired: dict[str, Any] | None = None) -> str:
    """Met only against the peak of the precision the steps actually multiply in: beating the fp32 peak with
    bf16 products says nothing about how close to the machine's limit the steps run."""
    fp32_shares = [ours["fraction_of_matmul_peak"]]
    if paired:
        fp32_shares.append(paired["summary"]["sentscore"]["median_share_of_round_peak"])
    if ours.get("precision") == "bf16":
        met = ours["fraction_of_bf16_matmul_peak"] >= 0.8
        if not met and max(fp32_shares) >= 0.8:
            places = ("in the full run", "in the alternating rounds")
            where = " and ".join(place for place, share in zip(places, fp32_shares, strict=False) if share >= 0.8)
            return (
                f"**not met**: 80% of the fp32 peak is reached {where}, but not 80% of the bf16 peak the steps "
                "multiply in"
            )
        return verdict(met)
    return verdict(ours["fraction_of_matmul_peak"] >= 0.8)


def _paired_share(paired: dict[str, Any] | None) -> str:
    if not paired:
        return ""
    ours = paired["summary"]["sentscore"]
    share = ours["median_share_of_round_peak"]
    text = f" of the run's best peak; {100 * share:.0f}% of the peak measured in the same round"
    if paired.get("precision", {}).get("sentscore") == "bf16":
        text += f" ({100 * ours['median_share_of_round_bf16_peak']:.0f}% of that round's bf16 peak)"
    return text + " (`bench.paired`)"


def paired_section(paired: dict[str, Any]) -> list[str]:
    summary = paired["summary"]
    ref, ours = summary["reference"], summary["sentscore"]
    ratio = summary["samples_per_s_ratio"]
    return [
        "## Training throughput in alternating rounds (`python -m bench.paired`)",
        "",
        f"Measured {paired.get('started', 'at an unrecorded time')}. Each side runs in its own process, so "
        "that settings a side makes for its process (sentscore's oneDNN cache and allocator settings) hold "
        "for it alone, as in a real run. Its training set-up is taken "
        "from a real run stopped after one step (the model, optimizer, "
        "schedule and the epoch's batches its sampler gives: batches of "
        f"{paired['batch_sizes']['reference']} in random order for the reference, "
        f"{paired['batch_sizes']['sentscore']} length-grouped for sentscore); then {summary['rounds']} rounds, "
        f"each putting {paired['samples_per_round']} training sentences drawn from the epoch through each side "
        "(forward, backward, clipping, optimizer and schedule steps) and then probing the fp32 and bf16 matmul "
        "peaks. "
        "Medians over the rounds; the machine's drift moves both sides alike.",
        "",
        "| | reference recipe | sentscore | ratio |",
        "|---|---:|---:|---:|",
        f"| training samples/s | {ref['median_samples_per_s']:.1f} | {ours['median_samples_per_s']:.1f} | "
        f"{ratio['median']:.2f}× (rounds {ratio['min']:.2f}-{ratio['max']:.2f}×) |",
        f"| real tokens/s | {ref['median_real_tokens_per_s']:.0f} | {ours['median_real_tokens_per_s']:.0f} | |",
        f"| GFLOP/s ({FLOP_COUNT}) | {ref['median_gflops']:.1f} | {ours['median_gflops']:.1f} | |",
        f"| share of the same round's matmul peak (median {summary['median_matmul_gflops']:.0f} GFLOP/s) | "
        f"{100 * ref['median_share_of_round_peak']:.0f}% | {100 * ours['median_share_of_round_peak']:.0f}% | |",
        *(
            [
                f"| precision of the matrix products | {paired['precision']['reference']} | "
                f"{paired['precision']['sentscore']} | |",
                f"| share of the same round's bf16 matmul peak (median {summary['median_matmul_gflops_bf16']:.0f} "
                f"GFLOP/s) | | {100 * ours['median_share_of_round_bf16_peak']:.0f}% | |",
            ]
            if paired.get("precision", {}).get("sentscore") == "bf16"
            else []
        ),
        "",
    ]


def _probes(figures: dict[str, Any]) -> str:
    probes = figures.get("matmul_gflops_around_run")
    return "not measured" if not probes else " / ".join(f"{p:.0f}" for p in probes)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.0f}"


def _ratio(reference: float | None, ours: float | None) -> str:
    return "" if not reference or not ours else f"{reference / ours:.2f}× shorter"


if __name__ == "__main__":
    main()
