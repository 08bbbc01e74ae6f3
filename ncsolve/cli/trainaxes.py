"""--weight-decay and --loss-reduction for phase and sweep: decay axes in the units a
training script sets, mapped by :func:`ncsolve.inputs.conventions.decay_scale`.

The mapping is the equal-batch one of docs/measure.md with the weight decay reaching
every layer and the free features (``lambda_W = lambda_H = s x weight_decay``).
"""

from __future__ import annotations

from dataclasses import replace

from ..inputs.conventions import decay_scale
from ..inputs.grid import parse_values
from ..inputs.validation import invalid
from .options import CONVENTIONS, GRID

NOTE = ("free features decayed by the optimizer's weight_decay with the layers: "
        "lambda_W = lambda_H = s x weight_decay (docs/measure.md)")


def add_train_options(parser, *, grid: bool) -> None:
    """Declare --loss-reduction and --batch-size (and, for a grid, --weight-decay GRID)."""
    group = parser.add_argument_group("training conventions", NOTE)
    if grid:
        replace(CONVENTIONS["weight_decay"], metavar=GRID, note="the optimizer's, instead "
                "of --decay: every lambda_w and lambda_h = s x it").add_to(group)
        CONVENTIONS["loss_reduction"].add_to(group)
    else:
        # given, the curves and regions are added in the optimizer's weight_decay
        replace(CONVENTIONS["loss_reduction"], default=None).add_to(group)
    CONVENTIONS["batch_size"].add_to(group)


def in_weight_decay(data: dict, scale: float) -> dict:
    """A phase map's JSON with its decays also as the optimizer's weight_decay."""
    def divide(values):
        if isinstance(values, dict):
            return {k: divide(v) for k, v in values.items()}
        if isinstance(values, list):
            return [divide(v) for v in values]
        return None if values is None else values / scale

    out = dict(data, weight_decay_scale=scale,
               weight_decay=f"decay / {scale:.6g}: the optimizer's weight_decay ({NOTE})")
    out["curves"] = [dict(c, critical_weight_decay=divide(c["critical_decay"]),
                          existence_weight_decay=divide(c["existence_decay"]))
                     for c in data["curves"]]
    out["regions"] = [region_in_weight_decay(r, scale) for r in data["regions"]]
    return out


def region_in_weight_decay(row: dict, scale: float) -> dict:
    """A region row (JSON or CSV) with ``weight_decay_low``/``weight_decay_high``."""
    high = row.get("decay_high")
    return dict(row, weight_decay_low=row["decay_low"] / scale,
                weight_decay_high=None if high is None else high / scale)


def scale_of(args, loss: str, num_classes: int) -> float:
    """s for the command's loss and K (a single loss and K)."""
    return decay_scale(loss, args.loss_reduction, num_classes, args.batch_size)


def scaled_grid(spec, scale: float) -> str:
    """A --weight-decay grid as the --decay grid s x it (exact, value by value)."""
    values = parse_values(spec, "weight_decay", scale="log", positive=True)
    return ",".join(repr(float(scale * v)) for v in values)


def check_alone(args, names) -> None:
    """--weight-decay replaces the decay axes ``names``: refuse both together."""
    for name in names:
        if getattr(args, name, None) is not None:
            raise invalid("weight_decay", f"sets every decay (s x weight_decay); leave out "
                          f"--{name.replace('_', '-')}")
