"""``rewardlab compare``: which of two responses to one prompt does the reward model prefer?

    rewardlab compare --model models/reward_model --prompt "How do I boil an egg?" "A" "B"

The tutorial's ``compare_texts``, done right: both responses are formatted with the template the
model was trained with and cut to its token budget, the model is in eval mode and runs without
gradients, and the answer says how sure it is: P(A preferred) = sigmoid(reward A - reward B), the
probability the model was trained to express.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from rewardlab.core.errors import run_main
from rewardlab.model.loading import load_reward_model
from rewardlab.model.scoring import score_responses


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
    parser.add_argument("--model", required=True, help="trained model folder (models/reward_model)")
    parser.add_argument("--prompt", required=True, help="the prompt both responses answer")
    # One metavar: Python 3.11's argparse cannot print help for a tuple metavar on a positional.
    parser.add_argument("responses", nargs=2, metavar="RESPONSE", help="response A, then B")
    args = parser.parse_args(argv)
    model, tokenizer, metadata = load_reward_model(args.model)
    reward_a, reward_b = score_responses(
        model, tokenizer, metadata, [args.prompt] * 2, args.responses
    )
    print(f"reward A: {reward_a:+.4f}")
    print(f"reward B: {reward_b:+.4f}")
    print(verdict(reward_a, reward_b))


if __name__ == "__main__":
    run_main(main)
