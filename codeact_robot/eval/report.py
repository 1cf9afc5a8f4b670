"""Aggregate episode results into the comparison table (JSON, Markdown) and a plot.

ROS-free. Input: the per-episode records the runner writes (``result.json``); output rows per
(backend, model, mode) with success %, mean turns, mean time, safety interventions (and the
safety events by kind, to tell false stops from real ones), the machine's CPU load and tokens,
plus success % per category and a per-task matrix.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from codeact_robot.eval.suite import CATEGORIES


def _mean(values: Sequence[float]) -> float | None:
    return round(statistics.fmean(values), 2) if values else None


def aggregate(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one row per (backend, model, mode), sorted, with the table's metrics."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r['backend'], r.get('model', ''), r['mode']), []).append(r)
    rows = []
    for (backend, model, mode), rs in sorted(groups.items()):
        ok = [r for r in rs if r['success']]
        by_cat = {}
        for cat in CATEGORIES:
            in_cat = [r for r in rs if r['category'] == cat]
            if in_cat:
                by_cat[cat] = round(100.0 * sum(r['success'] for r in in_cat) / len(in_cat), 1)
        rows.append({
            'backend': backend, 'model': model, 'mode': mode, 'episodes': len(rs),
            'tasks': len({r['task'] for r in rs}), 'seeds': sorted({r['seed'] for r in rs}),
            'success_pct': round(100.0 * len(ok) / len(rs), 1),
            'agent_claimed_done_pct': round(
                100.0 * sum(r['outcome'] == 'done' for r in rs) / len(rs), 1),
            'mean_turns': _mean([r['turns'] for r in rs]),
            'mean_turns_success': _mean([r['turns'] for r in ok]),
            'mean_seconds': _mean([r['seconds'] for r in rs]),
            'safety_interventions': sum(r['safety_interventions'] for r in rs),
            'episodes_with_intervention': sum(r['safety_interventions'] > 0 for r in rs),
            'safety_events_by_kind': _events_by_kind(rs),
            'mean_cpu_busy_pct': _mean([r['machine_load']['cpu_busy_pct'] for r in rs
                                        if 'cpu_busy_pct' in r.get('machine_load', {})]),
            'mean_prompt_tokens': _mean([r['prompt_tokens'] for r in rs]),
            'mean_completion_tokens': _mean([r['completion_tokens'] for r in rs]),
            'success_by_category': by_cat,
        })
    return rows


def _events_by_kind(records: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Count the safety events of the episodes by kind (records before the count: listed)."""
    counts: Counter[str] = Counter()
    for r in records:
        by_kind = r.get('safety_events_by_kind')
        if by_kind is None:
            by_kind = Counter(e['kind'] for e in r.get('safety_events', ()))
        counts.update(by_kind)
    return dict(sorted(counts.items()))


def _cell(value: Any) -> str:
    if value is None:
        return '-'
    if isinstance(value, dict):
        return ', '.join(f'{k} {v}' for k, v in value.items()) or '-'
    if isinstance(value, float):
        return f'{value:g}'
    return str(value)


def markdown(rows: Sequence[dict[str, Any]], records: Sequence[dict[str, Any]],
             title: str = 'Agent evaluation', command: str = '') -> str:
    """Render the table, success per category, the per-task matrix and the failures."""
    out = [f'# {title}', '']
    if command:
        out += ['Produced by:', '', '```', command, '```', '']
    out += ['| backend | model | mode | episodes | success % | mean turns | mean turns '
            '(successes) | mean time (s) | safety interventions | safety events by kind | '
            'mean CPU busy % | mean prompt tokens | mean completion tokens |',
            '|---|---|---|---|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        out.append('| ' + ' | '.join(_cell(r.get(k)) for k in (
            'backend', 'model', 'mode', 'episodes', 'success_pct', 'mean_turns',
            'mean_turns_success', 'mean_seconds', 'safety_interventions',
            'safety_events_by_kind', 'mean_cpu_busy_pct',
            'mean_prompt_tokens', 'mean_completion_tokens')) + ' |')
    cats = [c for c in CATEGORIES if any(c in r['success_by_category'] for r in rows)]
    if cats:
        out += ['', '## Success % by category', '',
                '| backend | mode | ' + ' | '.join(cats) + ' |',
                '|---|---|' + '---|' * len(cats)]
        for r in rows:
            out.append(f'| {r["backend"]} | {r["mode"]} | ' + ' | '.join(
                _cell(r['success_by_category'].get(c)) for c in cats) + ' |')
    columns = sorted({(r['backend'], r['mode']) for r in records})
    tasks = sorted({(r['category'], r['task']) for r in records},
                   key=lambda ct: (CATEGORIES.index(ct[0]) if ct[0] in CATEGORIES else 99,
                                   ct[1]))
    out += ['', '## Per task (successes / episodes)', '',
            '| task | category | ' + ' | '.join(f'{b} {m}' for b, m in columns) + ' |',
            '|---|---|' + '---|' * len(columns)]
    for cat, task in tasks:
        cells = []
        for b, m in columns:
            rs = [r for r in records if (r['task'], r['backend'], r['mode']) == (task, b, m)]
            cells.append(f'{sum(r["success"] for r in rs)}/{len(rs)}' if rs else '-')
        out.append(f'| {task} | {cat} | ' + ' | '.join(cells) + ' |')
    failures = [r for r in records if not r['success']]
    if failures:
        out += ['', '## Failures', '']
        for r in sorted(failures, key=lambda r: (r['backend'], r['mode'], r['task'], r['seed'])):
            failed = [c['name'] + ': ' + c['detail'] for c in r['checks'] if not c['passed']]
            why = r.get('failure_reason') or ''
            out.append(f'- {r["backend"]} {r["mode"]} `{r["task"]}` seed {r["seed"]}: '
                       f'{"; ".join(failed)}' + (f' (agent: {why[:160]})' if why else '')
                       + f' [transcript: {r.get("transcript") or "-"}]')
    return '\n'.join(out) + '\n'


def plot(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Bar charts: success % by category and mean turns, one bar per (backend, mode)."""
    import matplotlib
    matplotlib.use('Agg')  # headless
    import matplotlib.pyplot as plt

    cats = [c for c in CATEGORIES if any(c in r['success_by_category'] for r in rows)]
    labels = cats + ['all']
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4),
                                   gridspec_kw={'width_ratios': [3, 1]})
    width = 0.8 / max(1, len(rows))
    for i, r in enumerate(rows):
        values = [r['success_by_category'].get(c, 0.0) for c in cats] + [r['success_pct']]
        xs = [j + i * width for j in range(len(labels))]
        name = f'{r["backend"]} {r["mode"]}'
        ax1.bar(xs, values, width, label=name)
        ax2.bar([i], [r['mean_turns'] or 0.0], 0.6, label=name)
    ax1.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))], labels, rotation=20)
    ax1.set_ylabel('success %')
    ax1.set_ylim(0, 100)
    ax1.legend(fontsize=8)
    ax1.set_title('Task success')
    ax2.set_xticks(range(len(rows)), [f'{r["backend"]}\n{r["mode"]}' for r in rows],
                   fontsize=8)
    ax2.set_title('Mean turns')
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def load_records(out_dir: Path) -> list[dict[str, Any]]:
    """Read every episode's result.json under ``out_dir/episodes``."""
    records = []
    for path in sorted((out_dir / 'episodes').rglob('result.json')):
        with path.open(encoding='utf-8') as f:
            records.append(json.load(f))
    return records


def write_report(out_dir: Path, records: Sequence[dict[str, Any]] | None = None,
                 command: str = '', title: str = 'Agent evaluation') -> dict[str, Path]:
    """Write table.json, table.md and table.png into ``out_dir``; return their paths."""
    if records is None:
        records = load_records(out_dir)
    rows = aggregate(records)
    paths = {'json': out_dir / 'table.json', 'md': out_dir / 'table.md'}
    out_dir.mkdir(parents=True, exist_ok=True)
    paths['json'].write_text(json.dumps({'command': command, 'rows': rows,
                                         'episodes': len(records)}, indent=2) + '\n',
                             encoding='utf-8')
    paths['md'].write_text(markdown(rows, records, title, command), encoding='utf-8')
    if rows:
        paths['png'] = plot(rows, out_dir / 'table.png')
    return paths
