"""The model options shared by every subcommand, declared once so that flags,
metavars and help read the same in ``predict``, ``equation`` and ``verify``."""

from __future__ import annotations

from ..inputs.problem import DEFAULT_DECAY
from ..inputs.profiles import profile
from ..inputs.validation import invalid


def add_model_options(parser, *, symbolic: bool = False, loss: bool = True,
                      widths: bool = True, n_required: bool = True) -> None:
    """--n, --depth, --lambda-w, --lambda-h, --bias (and --loss, --widths).

    With ``symbolic`` (``ncsolve equation``) the class sizes and decays are
    optional and stay symbols when left out, and the depth is required.
    """
    parser.add_argument(
        "--n", required=n_required and not symbolic, metavar="N1,N2,...",
        help="samples per class, comma-separated, or @FILE of counts separated by spaces, "
        "commas or newlines (K = number of classes)"
        + ("; without it the equations stay symbolic" if symbolic else ""))
    parser.add_argument(
        "--depth", required=symbolic, default=None if symbolic else "1", metavar="M",
        help="number of linear layers M after the features" + ("" if symbolic else
                                                              " (default 1: plain UFM)"))
    decay_default = None if symbolic else str(DEFAULT_DECAY)
    when_omitted = "symbolic when omitted without --n" if symbolic else f"default {DEFAULT_DECAY}"
    parser.add_argument(
        "--lambda-w", default=decay_default, metavar="X|X1,...,XM",
        help=f"weight decay, one value or one per layer, layer 1 first ({when_omitted})")
    parser.add_argument("--lambda-h", default=decay_default, metavar="X",
                        help=f"feature decay ({when_omitted})")
    if symbolic:  # equation has the closed forms of these two only
        parser.add_argument("--bias", default="none", metavar="none|free",
                            help="bias-free model or a learned unregularized bias (default "
                            "none; a regularized bias: ncsolve predict)")
    else:
        parser.add_argument("--bias", default="none", metavar="none|free|regularized",
                            help="bias-free model, a learned unregularized bias, or a "
                            "learned bias with decay --lambda-b (default none)")
    if not symbolic:
        parser.add_argument("--lambda-b", default=None, metavar="X",
                            help="decay of the bias, lambda_b/2 ||b||^2 (with --bias "
                            "regularized only; equal to lambda_w when the weight decay "
                            "reaches every parameter; with --weight-decay it is mapped)")
    if loss:
        parser.add_argument("--loss", default="mse", metavar="mse|ce",
                            help="squared error or softmax cross-entropy (default mse)")
    if widths:
        parser.add_argument("--widths", default=None, metavar="D1,...,DM",
                            help="feature widths d_1..d_M, one per layer (d_1 is the width "
                            "of the features); narrow layers cap the rank")


def add_profile_options(parser, *, ratio_help: str | None = None,
                        ratio_default: str | None = None) -> None:
    """--profile, --ratio, --classes, --minority, --largest (docs/phase.md)."""
    parser.add_argument(
        "--profile", default=None, metavar="step|exp|scaled",
        help="class sizes from an imbalance profile instead of --n: step (two groups, "
        "Fang et al. 2021), exp (long-tailed, Cao et al. 2019), scaled (the sizes of --n "
        "with their imbalance rescaled to --ratio)")
    parser.add_argument(
        "--ratio", default=ratio_default, metavar="RHO",
        help=ratio_help or "imbalance ratio n_max/n_min >= 1 of the profile")
    parser.add_argument("--classes", default=None, metavar="K",
                        help="profile step/exp: number of classes (default 10)")
    parser.add_argument("--minority", default=None, metavar="K_MIN",
                        help="profile step: number of minority classes (default K // 2)")
    parser.add_argument("--largest", default=None, metavar="N_MAX",
                        help="profile step/exp: size of the largest class (default 5000)")


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


def add_search_options(parser, *, of: str = "the search") -> None:
    """--restarts and --seed of the cross-entropy search (predict, measure)."""
    parser.add_argument("--restarts", default=None, metavar="R",
                        help=f"cross-entropy only: random starts of {of} (default depends "
                        "on K); more restarts, more certainty")
    parser.add_argument("--seed", default=None, metavar="S",
                        help=f"cross-entropy only: seed of {of} (default 0)")


def add_convention_options(parser, *, bias_decay: bool = False) -> None:
    """--weight-decay, --loss-reduction, --feature-decay, ...: decays from what a training
    script set (mapped by ncsolve.inputs.conventions; docs/measure.md)."""
    group = parser.add_argument_group(
        "training conventions", "give what the training code set instead of --lambda-w/"
        "--lambda-h; they are mapped onto ncsolve's objective (docs/measure.md)")
    group.add_argument("--weight-decay", default=None, metavar="WD|WD1,...,WDM",
                       help="the optimizer's weight_decay (coupled L2, as SGD and Adam apply "
                       "it), one value or one per layer")
    group.add_argument("--loss-reduction", default="mean", metavar="mean|sum|half-mean|ufm",
                       help="how the training loss averaged: mean (PyTorch's default: "
                       "nn.MSELoss over N*K entries, nn.CrossEntropyLoss over N), sum, "
                       "half-mean (MSELoss/2), ufm (1/(2N) sum of squares)")
    group.add_argument("--feature-decay", default=None, metavar="FD",
                       help="an explicit fd/2 ||H||^2 added to the loss (free features)")
    group.add_argument("--batch-size", default=None, metavar="B",
                       help="samples per batch (default: full batch)")
    group.add_argument("--feature-decay-scope", default="batch", metavar="batch|all",
                       help="the feature penalty is on each batch's features (default) or "
                       "on all of H at every step")
    group.add_argument("--optimizer", default="sgd", metavar="sgd|adam|adamw",
                       help="adamw is refused: its decoupled decay is not an L2 penalty")
    if bias_decay:
        group.add_argument("--no-bias-decay", dest="bias_decay", action="store_false",
                           help="weight_decay does not reach the last-layer bias")


CONVENTION_FLAGS = ("weight_decay", "feature_decay", "batch_size")


def convention_given(args) -> bool:
    """Whether any training-convention option was set on the command line."""
    return any(getattr(args, name, None) is not None for name in CONVENTION_FLAGS)


def convention_settings(args) -> dict:
    """The training-convention options as keywords of ``training_decays``."""
    return {"weight_decay": args.weight_decay, "feature_decay": args.feature_decay,
            "loss_reduction": args.loss_reduction, "batch_size": args.batch_size,
            "feature_decay_scope": args.feature_decay_scope, "optimizer": args.optimizer}
