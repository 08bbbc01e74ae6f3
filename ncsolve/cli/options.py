"""The command-line options, declared once as data: a flag, its metavar and its
help read the same in every subcommand (one vocabulary, docs/cli.md)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..inputs.problem import DEFAULT_DECAY
from ..inputs.profiles import profile
from ..inputs.validation import invalid


@dataclass(frozen=True)
class Option:
    """One command-line option as data: its flag and how it reads in ``--help``.

    ``help`` says what the option is, the same in every command; ``note`` is the
    parenthesis after it (the default, or where the option applies), which a
    command may change with :func:`option`. An ``action`` option (a switch)
    takes no value and no metavar.
    """

    flag: str
    metavar: str | None = None
    default: object = None
    help: str = ""
    note: str = ""
    action: str | None = None
    dest: str | None = None
    required: bool = False

    @property
    def name(self) -> str:
        """The key of the option in a table: the flag with ``_`` for ``-``."""
        return self.flag.lstrip("-").replace("-", "_")

    def add_to(self, parser) -> None:
        """Declare the option on an argparse parser or argument group."""
        text = f"{self.help} ({self.note})" if self.note else self.help
        given = {"metavar": self.metavar, "action": self.action, "dest": self.dest}
        keywords = {key: value for key, value in given.items() if value is not None}
        if self.required:
            keywords["required"] = True
        parser.add_argument(self.flag, default=self.default, help=text, **keywords)


def table(*options: Option) -> dict[str, Option]:
    """Options keyed by :attr:`Option.name`."""
    return {item.name: item for item in options}


DECAY = f"default {DEFAULT_DECAY}"
GRID = "X|X1,X2,...|START:STOP:COUNT"
FIGURE = ("the extension gives the format: .png (200 dpi), .pdf or .svg; needs matplotlib: "
          "pip install 'ncsolve[plot]'")

# The one vocabulary of the command line (docs/cli.md): a flag means the same in every
# command. A command changes a note (its default) or, where the meaning differs, the help.
OPTIONS = table(
    Option("--n", "N1,N2,...", None, "samples per class (K = number of classes): comma-"
           "separated, or @FILE of counts separated by spaces, commas or newlines"),
    Option("--depth", "M", "1", "number of linear layers M after the features",
           "default 1: plain UFM"),
    Option("--lambda-w", "X|X1,...,XM", None, "weight decay, one value or one per layer, "
           "layer 1 first", DECAY),
    Option("--lambda-h", "X", None, "feature decay", DECAY),
    Option("--bias", "none|free|regularized", "none", "bias-free model, a learned "
           "unregularized bias, or a learned bias with decay --lambda-b", "default none"),
    Option("--lambda-b", "X", None, "decay of the bias, lambda_b/2 ||b||^2", "with --bias "
           "regularized only; equal to lambda_w when the weight decay reaches every parameter"),
    Option("--loss", "mse|ce", "mse", "squared error or softmax cross-entropy", "default mse"),
    Option("--widths", "D1,...,DM", None, "feature widths d_1..d_M, one per layer (d_1 is the "
           "width of the features); narrow layers cap the rank"),
    Option("--features", "unconstrained|nonnegative", None, "free features, or features "
           "H >= 0 as after a ReLU (docs/nonnegative.md)", "default unconstrained"),
    Option("--profile", "step|exp|scaled", None, "class sizes from an imbalance profile "
           "instead of --n: step (two groups, Fang et al. 2021), exp (long-tailed, Cao et al. "
           "2019), scaled (the sizes of --n with their imbalance rescaled to --ratio)"),
    Option("--ratio", "RHO", None, "imbalance ratio n_max/n_min >= 1 of the profile"),
    Option("--classes", "K", None, "profile step/exp: number of classes", "default 10"),
    Option("--minority", "K_MIN", None, "profile step: number of minority classes",
           "default K // 2"),
    Option("--largest", "N_MAX", None, "profile step/exp: size of the largest class",
           "default 5000"),
    Option("--precision", "DIGITS", None, "significant digits of every number, 15..1000"),
    Option("--restarts", "R", None, "cross-entropy only: random starts of ncsolve's search; "
           "more restarts, more certainty", "default depends on K"),
    Option("--seed", "S", None, "cross-entropy only: seed of ncsolve's search", "default 0"),
    Option("--json", default=False, action="store_true",
           help="print one JSON object instead of the text report"),
    Option("--plot", "PATH", None, "draw a figure", FIGURE),
    Option("--output", "PATH", None, "write the table to PATH instead of standard output"),
    Option("--quiet", default=False, action="store_true", help="no progress on stderr"),
    Option("--force", default=False, action="store_true", help="replace an existing --output "
           "or --plot file that is not a resumable output of this run (otherwise refused)"),
    Option("--init-scale", "S|S0,...,SM", None, "spectral start: every factor (H, W_1, ..., "
           "W_M) has singular value S in every direction of the target; or one value per "
           "factor, H first (docs/dynamics.md)"),
)
# gradient flow from a spectral start (ncsolve dynamics; docs/dynamics.md)
FLOW = table(
    Option("--lr", "X", None, "learning rate of gradient descent: the flow's time t is t/X "
           "steps"),
    Option("--steps", "S", None, "also give each direction's value after S steps (needs --lr)"),
    Option("--trajectory", default=False, action="store_true",
           help="sample each direction's path (in --json)"),
)

MODEL = ("n", "depth", "lambda_w", "lambda_h", "bias", "lambda_b", "loss", "widths")
PROFILE = ("profile", "ratio", "classes", "minority", "largest")
SEARCH = ("restarts", "seed")
EFFORT = Option("--effort", "quick|default|thorough", None, "cross-entropy only: the search "
                "budget, about 1/3, 1 or 3 times the default search (docs/crossentropy.md)",
                "default: default")
SCALED = "with --profile scaled: the sizes whose imbalance is rescaled"


def option(name: str, **changes) -> Option:
    """The shared option ``name``, with a command's own note, default or help."""
    return replace(OPTIONS[name], **changes)


def add_options(parser, *options: str | Option) -> None:
    """Declare options, each a name in :data:`OPTIONS` or an :class:`Option`, in order."""
    for item in options:
        (OPTIONS[item] if isinstance(item, str) else item).add_to(parser)


def profile_from_args(args):
    """The Profile named by the options, or None without --profile (then the
    profile-only options must be absent)."""
    if args.profile is None:
        for name in ("classes", "minority", "largest"):
            if getattr(args, name, None) is not None:
                raise invalid(name, "only used with --profile step|exp")
        return None

    return profile(args.profile, classes=args.classes, minority=args.minority,
                   largest=args.largest, n=args.n)


CONVENTIONS = table(
    Option("--weight-decay", "WD|WD1,...,WDM", None, "the optimizer's weight_decay (coupled "
           "L2, as SGD and Adam apply it), one value or one per layer"),
    Option("--loss-reduction", "mean|sum|half-mean|ufm", "mean", "how the training loss "
           "averaged: mean (PyTorch's default: nn.MSELoss over N*K entries, "
           "nn.CrossEntropyLoss over N), sum, half-mean (MSELoss/2), ufm (1/(2N) sum of "
           "squares)"),
    Option("--feature-decay", "FD", None, "an explicit fd/2 ||H||^2 added to the loss",
           "free features"),
    Option("--batch-size", "B", None, "samples per batch", "default: full batch"),
    Option("--feature-decay-scope", "batch|all", "batch", "the feature penalty is on each "
           "batch's features (default) or on all of H at every step"),
    Option("--optimizer", "sgd|adam|adamw", "sgd", "adamw is refused: its decoupled decay is "
           "not an L2 penalty"),
    Option("--no-bias-decay", default=True, action="store_false", dest="bias_decay",
           help="weight_decay does not reach the last-layer bias"),
)


def add_convention_options(parser, *, bias_decay: bool = False) -> None:
    """--weight-decay, --loss-reduction, --feature-decay, ...: decays from what a training
    script set (mapped by ncsolve.inputs.conventions; docs/measure.md)."""
    group = parser.add_argument_group(
        "training conventions", "give what the training code set instead of --lambda-w/"
        "--lambda-h/--lambda-b; they are mapped onto ncsolve's objective (docs/measure.md)")
    names = [name for name in CONVENTIONS if bias_decay or name != "no_bias_decay"]
    add_options(group, *(CONVENTIONS[name] for name in names))


CONVENTION_FLAGS = ("weight_decay", "feature_decay", "batch_size")


def convention_given(args) -> bool:
    """Whether any training-convention option was set on the command line."""
    return any(getattr(args, name, None) is not None for name in CONVENTION_FLAGS)


def convention_settings(args) -> dict:
    """The training-convention options as keywords of ``training_decays``."""
    return {"weight_decay": args.weight_decay, "feature_decay": args.feature_decay,
            "loss_reduction": args.loss_reduction, "batch_size": args.batch_size,
            "feature_decay_scope": args.feature_decay_scope, "optimizer": args.optimizer}


TARGETS = table(
    Option("--label-smoothing", "EPS", None, "MSE toward one-hot labels smoothed by EPS in "
           "[0, 1)", "0 is the one-hot answer"),
    Option("--soft-labels", "FILE", None, "class-level targets: a K' x K array under key "
           "'soft_labels' (column k: the target of class k) in .npz/.safetensors/.pt"),
    Option("--targets", "FILE", None, "per-sample targets: an N x t array under key "
           "'targets' (rows are samples) in .npz/.safetensors/.pt; leave --n out"),
)


def add_target_options(parser) -> None:
    """--label-smoothing, --soft-labels, --targets: a target other than one-hot labels
    (MSE only; docs/targets.md)."""
    group = parser.add_argument_group(
        "targets", "a target other than one-hot labels (MSE; docs/targets.md)")
    add_options(group, *TARGETS.values())


def target_settings(args) -> dict:
    """The target options as keywords of ``predict`` (files read here, safely)."""
    from ..measure.files import read_array  # the CLI reads files; the API takes arrays

    settings = {}
    if getattr(args, "label_smoothing", None) is not None:
        settings["label_smoothing"] = args.label_smoothing
    for name in ("soft_labels", "targets"):
        path = getattr(args, name, None)
        if path is not None:
            settings[name] = read_array(path, name, name)
    return settings
