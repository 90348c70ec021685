"""``rewardlab compare``: which of two responses to one prompt does the reward model prefer?

    rewardlab compare --model models/reward_model --prompt "How do I boil an egg?" "A" "B"

The tutorial's ``compare_texts``, done right: both responses are formatted with the template the
model was trained with and cut to its token budget, the model is in eval mode and runs without
gradients, and the answer says how sure it is: P(A preferred) = sigmoid(reward A - reward B), the
probability the model was trained to express. ``--model`` may also be any one-output reward model
(a folder or a Hub id), read as ``--model-input`` says (``rewardlab score --help``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from rewardlab.core.errors import run_main
from rewardlab.model.references import score_texts
from rewardlab.tools.score import add_model_arguments, open_model


def verdict(reward_a: float, reward_b: float) -> str:
    """One line naming the winner; equal rewards are a tie, as in evaluation."""
    if reward_a == reward_b:
        return "tie: the model cannot tell A and B apart"
    p_a = 1 / (1 + math.exp(reward_b - reward_a))
    winner, p = ("A", p_a) if reward_a > reward_b else ("B", 1 - p_a)
    return f"{winner} wins by {abs(reward_a - reward_b):.4f} (P({winner} preferred) = {p:.3f})"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="rewardlab compare", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    add_model_arguments(parser)
    parser.add_argument("--prompt", required=True, help="the prompt both responses answer")
    # One metavar: Python 3.11's argparse cannot print help for a tuple metavar on a positional.
    parser.add_argument("responses", nargs=2, metavar="RESPONSE", help="response A, then B")
    args = parser.parse_args(argv)
    reward_a, reward_b = score_texts(open_model(args), [args.prompt] * 2, args.responses)
    print(f"reward A: {reward_a:+.4f}")
    print(f"reward B: {reward_b:+.4f}")
    print(verdict(reward_a, reward_b))


if __name__ == "__main__":
    run_main(main)
