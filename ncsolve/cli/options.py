"""The model options shared by every subcommand, declared once so that flags,
metavars and help read the same in ``predict``, ``equation`` and ``verify``."""

from __future__ import annotations


from ..problem import DEFAULT_DECAY


def add_model_options(parser, *, symbolic: bool = False, loss: bool = True,
                      widths: bool = True) -> None:
    """--n, --depth, --lambda-w, --lambda-h, --bias (and --loss, --widths).

    With ``symbolic`` (``ncsolve equation``) the class sizes and decays are
    optional and stay symbols when left out, and the depth is required.
    """
    parser.add_argument(
        "--n", required=not symbolic, metavar="N1,N2,...",
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
    parser.add_argument("--bias", default="none", metavar="none|free|regularized",
                        help="bias-free model, a learned unregularized bias, or a learned "
                        "bias with decay --lambda-b (default none)")
    if not symbolic:
        parser.add_argument("--lambda-b", default=None, metavar="X",
                            help="decay of the bias, lambda_b/2 ||b||^2 (with --bias "
                            "regularized only; the weight decay when it decays every "
                            "parameter)")
    if loss:
        parser.add_argument("--loss", default="mse", metavar="mse|ce",
                            help="squared error or softmax cross-entropy (default mse)")
    if widths:
        parser.add_argument("--widths", default=None, metavar="D1,...,DM",
                            help="feature widths d_1..d_M, one per layer (d_1 is the width "
                            "of the features); narrow layers cap the rank")



