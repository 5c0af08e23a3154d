"""Report of an MNIST study dict (see :func:`hwadapt.training.experiment.run_study`):
three PNG plots, a markdown table and the paper's three claims checked against the numbers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hwadapt.training.study_config import StudyConfig

PLOTS = ("accuracy_vs_epoch.png", "accuracy_vs_params.png", "forgetting.png")

#: tolerance (accuracy points, i.e. 0.01 = 1 %) for "comparable" in claim 1
COMPARABLE = 0.01


def write_plots(study: dict[str, Any], out: Path) -> list[Path]:
    """Write :data:`PLOTS` into ``out``: B validation accuracy per epoch (mean line, min–max
    band over seeds), final B accuracy vs all trainable parameters, head included (log x,
    error bars = std over seeds), A accuracy before/after fine-tuning per arm (bars, std
    error bars)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    runs, summ = study["runs"], study["summary"]
    paths = [Path(out) / name for name in PLOTS]

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    seeds = len(next(iter(runs.values())))
    for arm, recs in runs.items():
        acc = np.array([r["b_acc"] for r in recs]) * 100
        ep = np.arange(acc.shape[1])
        ax.plot(ep, acc.mean(0), label=f"{arm} ({summ[arm]['body_params']:,} params)")
        ax.fill_between(ep, acc.min(0), acc.max(0), alpha=0.2)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="fine-tuning epoch", ylabel="validation accuracy on B = {5..9} (%)",
           title=f"Fine-tuning on B ({seeds} seed{'s' * (seeds != 1)}, band = min–max)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(paths[0], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for arm, s in summ.items():
        ax.errorbar(s["body_params"] + s["head_params"], s["b_acc_mean"] * 100,
                    yerr=s["b_acc_std"] * 100, fmt="o", capsize=3, label=arm)
    ax.set_xscale("log")
    ax.set(xlabel="trainable parameters, head included (log)",
           ylabel="final validation accuracy on B (%)", title="Accuracy vs trainable parameters")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(paths[1], dpi=120)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    arms = list(summ)
    pos = np.arange(len(arms))
    ax.bar(pos - 0.2, [summ[a]["a_acc_before_mean"] * 100 for a in arms], 0.4,
           label="A accuracy before fine-tuning")
    ax.bar(pos + 0.2, [summ[a]["a_acc_after_mean"] * 100 for a in arms], 0.4,
           yerr=[summ[a]["a_acc_after_std"] * 100 for a in arms], capsize=3,
           label="A accuracy after fine-tuning (pretrained head)")
    ax.set_xticks(pos, arms, rotation=20)
    ax.set(ylabel="validation accuracy on A = {0..4} (%)", title="Forgetting")
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(paths[2], dpi=120)
    plt.close(fig)
    return paths


def table_markdown(study: dict[str, Any]) -> str:
    """Markdown table: arm, body params, head params, B acc, A acc before and after (%), as
    mean ± sample std over seeds (the mean alone from one seed: no spread to show)."""
    rows = ["| arm | trainable params (body) | head params | B val acc (%) | "
            "A acc before FT (%) | A acc after FT (%) |",
            "|---|---:|---:|---:|---:|---:|"]
    for arm, s in study["summary"].items():
        rows.append(f"| {arm} | {s['body_params']:,} | {s['head_params']:,} | "
                    f"{_percent(s, 'b_acc')} | {100 * s['a_acc_before_mean']:.2f} | "
                    f"{_percent(s, 'a_acc_after')} |")
    return "\n".join(rows)


def _percent(summary: dict[str, Any], key: str) -> str:
    """An arm's ``key`` mean in %, ``± std`` when it spans several seeds."""
    mean = f"{100 * summary[key + '_mean']:.2f}"
    return mean if summary["seeds"] < 2 else f"{mean} ± {100 * summary[key + '_std']:.2f}"


def claims(study: dict[str, Any]) -> list[str]:
    """One sentence per paper claim, saying whether it held in ``study`` (needs the arms the
    claim names; a claim whose arms were not run says so)."""
    s = study["summary"]

    def pct(x: float) -> str:
        return f"{100 * x:.2f} %"

    out = []
    loras = [a for a in ("lora-matched", "lora-r8") if a in s]
    if "hamming" in s and loras:
        h = s["hamming"]
        parts, held = [], True
        for a in loras:
            gap = h["b_acc_mean"] - s[a]["b_acc_mean"]
            fewer = h["body_params"] < s[a]["body_params"]
            held &= fewer and gap >= -COMPARABLE
            parts.append(f"{a} {pct(s[a]['b_acc_mean'])} with {s[a]['body_params']:,} params")
        out.append(f"**HW ≈ LoRA with fewer parameters: {'held' if held else 'did not hold'}** "
                   f"— hamming LC reaches {pct(h['b_acc_mean'])} on B with "
                   f"{h['body_params']:,} params vs {'; '.join(parts)} (criterion: fewer "
                   f"params and at most {100 * COMPARABLE:.0f} point below each LoRA arm).")
    else:
        out.append("HW ≈ LoRA with fewer parameters: not tested (needs hamming and a LoRA arm).")
    if "compound" in s and "lora-matched" in s:
        gap = s["compound"]["b_acc_mean"] - s["lora-matched"]["b_acc_mean"]
        verdict = "held" if gap >= 0.03 else ("held in direction only" if gap > 0
                                              else "did not hold")
        out.append(f"**Compound +3 % over LoRA at comparable parameters: {verdict}** — "
                   f"compound LC {pct(s['compound']['b_acc_mean'])} "
                   f"({s['compound']['body_params']:,} params) vs lora-matched "
                   f"{pct(s['lora-matched']['b_acc_mean'])} "
                   f"({s['lora-matched']['body_params']:,} params): {100 * gap:+.2f} points.")
    else:
        out.append("Compound +3 % over LoRA: not tested (needs compound and lora-matched).")
    others = [a for a in ("full", "lora-matched", "lora-r8") if a in s]
    if "hamming" in s and others:
        h = s["hamming"]["a_acc_after_mean"]
        worse = [a for a in others if s[a]["a_acc_after_mean"] >= h]
        verdict = "held" if not worse else "did not hold"
        listing = ", ".join(f"{a} {pct(s[a]['a_acc_after_mean'])}" for a in others)
        out.append(f"**HW forgets less: {verdict}** — A accuracy after fine-tuning "
                   f"{pct(h)} for hamming LC vs {listing}"
                   + (f" (not below: {', '.join(worse)})." if worse else "."))
    else:
        out.append("HW forgets less: not tested (needs hamming and full or LoRA arms).")
    if "head-only" in s:
        base = s["head-only"]["b_acc_mean"]
        gains = ", ".join(f"{a} {100 * (v['b_acc_mean'] - base):+.2f}" for a, v in s.items()
                          if a != "head-only")
        out.append(f"Control (not in the paper): training only the head reaches {pct(base)} "
                   f"on B; gain of each arm over it, in points: {gains}.")
    return out


def command_line(study: dict[str, Any]) -> str:
    """The ``hwadapt finetune`` command that reruns ``study`` (output folder left out);
    settings only the Python API sets are appended as a ``StudyConfig(...)`` comment."""
    c = study["config"]
    parts = ["hwadapt finetune", f"--methods {','.join(c['methods'])}", f"--seeds {c['seeds']}",
             f"--epochs {c['epochs']}", f"--pretrain-epochs {c['pretrain_epochs']}",
             f"--hidden {c['hidden']}", f"--threads {c['threads']}"]
    if c["data_dir"] is not None:
        parts.append(f"--data-dir {c['data_dir']}")
    if c["max_per_class"] is not None:
        parts.append(f"--max-per-class {c['max_per_class']}")
    api_only = {k: c[k] for k in ("val_fraction", "batch_size", "lr_full", "lr_adapter")
                if c[k] != getattr(StudyConfig(), k)}
    if api_only:  # settings the CLI does not expose: name them for the Python API
        parts.append("# and StudyConfig(" + ", ".join(f"{k}={v!r}" for k, v in
                                                     api_only.items()) + ")")
    return " ".join(parts)


def write_readme(study: dict[str, Any], out: Path) -> Path:
    """``out/README.md``: set-up line, the table, the claims and the plot links."""
    c = study["config"]
    text = "\n".join([
        "# MNIST study: adapters vs LoRA vs full fine-tuning",
        "",
        f"Data: {study['data']['source']}; N_H = {c['hidden']}; {c['seeds']} seeds; "
        f"{c['pretrain_epochs']} pretraining epochs on A, {c['epochs']} fine-tuning epochs "
        f"on B; batch {c['batch_size']}; Adam lr {c['lr_full']:g} (full, pretraining) / "
        f"{c['lr_adapter']:g} (adapters). Adapters on "
        f"{', '.join(study['choices']['adapted_layers'])}; the head is trained in every "
        f"arm. A accuracy after fine-tuning uses the pretrained A head. "
        f"Total wall time {study['wall_s']:.0f} s with {study['host']['torch_threads']} "
        f"torch thread(s) on a {study['host']['cpu_count']}-core machine (load average "
        f"{study['host']['loadavg_start'][0]:.1f} at start, "
        f"{study['host']['loadavg_end'][0]:.1f} at end).",
        "",
        table_markdown(study),
        "",
        f"Claims of the paper, checked here (means over {c['seeds']} seed(s); differences "
        "smaller than about the seed std in the table are not resolved by this run):",
        "",
        *[f"- {line}" for line in claims(study)],
        "",
        f"Reproduce: `{command_line(study)}`",
        "",
        *[f"![{p}]({p})" for p in PLOTS],
        "",
    ])
    path = Path(out) / "README.md"
    path.write_text(text)
    return path
