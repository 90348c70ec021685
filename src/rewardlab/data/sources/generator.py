"""Built-in preference pairs that teach what a good answer is, not what the topics are.

Why: a reward model trained on a few topics memorises them (issue 12: 0.98 on the generator's
own topics, 0.70 on hand-written everyday pairs). So the topics here are many (over a thousand:
tables in ``builtin/*.yaml`` plus arithmetic, unit conversions, sorting and letter counts made
from numbers) and of many kinds (facts, translations, definitions, lists, explanations, how-to
steps, advice, rewrites), while the failure modes do not depend on any topic's facts:

* ``vague`` -- generic rambling that never answers;
* ``wrong_fact`` -- the good answer's shape with a confident error (a wrong value or sentence);
* ``harmful_advice`` -- steps with unsafe or absurd advice slipped in (how-to and advice only);
* ``off_topic`` -- a good answer to another question of the same kind;
* ``refusal`` -- refuses or deflects;
* ``incomplete`` -- starts well and stops before the answer;
* ``repetitive`` -- loops one sentence, or says the whole answer again;
* ``rude`` -- insults the asker, with or without the answer.

Length is no shortcut: each row flips a fair coin for which side is longer and resamples both
answers until the coin is honoured, so "the longer answer wins" scores about 0.5, and short
correct answers beat long wrong ones as often as the reverse.

Held-out topics: topics are dealt (seeded) into small groups of one kind; an off-topic answer
only borrows from its own group, so splitting by ``topic_group`` keeps every fact of a held-out
topic out of training. Deterministic: every choice comes from ``random.Random`` seeded with strings.
"""

from __future__ import annotations

import random

from rewardlab.data.sources.topics import Topic, all_topics, fill, tables, topic_groups

MODES = (
    "vague",
    "wrong_fact",
    "harmful_advice",
    "off_topic",
    "refusal",
    "incomplete",
    "repetitive",
    "rude",
)
MAX_WORDS = 70  # responses stay short: training runs on a 2-core CPU
MAX_ATTEMPTS = 60
MAX_PAIRS = 100_000  # beyond this the rows mostly repeat topics and phrasings


def _core(topic: Topic, rng: random.Random, wrong: bool = False) -> list[str]:
    """The sentences (or steps) that carry the answer, right or confidently wrong."""
    spec = tables()["answers"].get(topic.kind)
    if spec:
        value = rng.choice(topic.wrong) if wrong else topic.right[0]
        extras = rng.sample(spec["extra"], rng.randint(0, len(spec["extra"])))
        return [fill(x, topic, v=value) for x in [rng.choice(spec["core"]), *extras]]
    pool = topic.wrong if wrong else topic.right
    if topic.steps:
        return list(pool)
    picks = sorted(rng.sample(range(len(pool)), rng.randint(1, min(3, len(pool)))))
    return [pool[i] for i in picks]


def _render(
    topic: Topic,
    rng: random.Random,
    core: list[str],
    intro: str | None = None,
    outro: str | None = None,
) -> str:
    t = tables()
    outro = rng.choice(t["outros"]) if outro is None else outro
    if topic.steps:
        intro = (
            (rng.choice(t["step_intros"]) if rng.random() < 0.7 else "") if intro is None else intro
        )
        lines = [f"{i}. {step.rstrip('.')}." for i, step in enumerate(core, start=1)]
        return "\n".join(part for part in [intro, *lines, outro] if part)
    intro = rng.choice(t["intros"]) if intro is None else intro
    return " ".join(part for part in [intro, *core, outro] if part)


def _sentences(key: str, topic: Topic, rng: random.Random, most: int) -> str:
    picks = rng.sample(tables()[key], rng.randint(1, most))
    return " ".join(fill(sentence, topic) for sentence in picks)


def _harmful(topic: Topic, rng: random.Random) -> str:
    unsafe = [s.rstrip(".") for s in rng.sample(tables()["unsafe"], 3)]
    if rng.random() < 0.3:
        return _render(topic, rng, unsafe[: rng.randint(1, 3)])
    steps = list(topic.right)
    for j, pos in enumerate(rng.sample(range(len(steps)), rng.randint(1, 2))):
        steps[pos] = unsafe[j]
    return _render(topic, rng, steps)


def _incomplete(topic: Topic, rng: random.Random) -> str:
    """A good answer that stops mid-sentence (or mid-word): before the answer, or later on."""
    core = _core(topic, rng)
    text = _render(topic, rng, core)
    before_answer = topic.kind in tables()["answers"] and rng.random() < 0.5
    target = (core[0] if before_answer else rng.choice(core[len(core) // 2 :])).rstrip(".")
    words = target.split(" ")
    if before_answer:
        cut = rng.randint(1, max(1, len(target[: target.find(topic.right[0])].split())))
    else:
        cut = rng.randint(max(1, len(words) // 3), max(1, len(words) - 2))
    head = (text[: text.find(target)] + " ".join(words[:cut])).rstrip(",;:' ")
    if cut < len(words) and len(words[cut]) > 3 and rng.random() < 0.25:
        return head + " " + words[cut][: rng.randint(1, len(words[cut]) - 2)]
    return head + rng.choice(("", "", "...", ","))


def _repetitive(topic: Topic, rng: random.Random) -> str:
    """One sentence looped, or the whole answer said again (and again)."""
    draw = rng.random()
    if draw < 0.35:
        copies = [fill(rng.choice(tables()["loops"]), topic)] * rng.randint(3, 6)
    elif draw < 0.7:
        copies = [rng.choice(_core(topic, rng)).rstrip(".") + "."] * rng.randint(3, 6)
    else:
        copies = _core(topic, rng) * rng.randint(2, 3)
    return _render(topic, rng, copies, intro="", outro="") if topic.steps else " ".join(copies)


def _rude(topic: Topic, rng: random.Random) -> str:
    t = tables()
    if rng.random() < 0.25:
        return _sentences("rude_dismissals", topic, rng, 2)
    opener, closer = rng.choice(t["rude_openers"]), rng.choice(t["rude_closers"])
    return _render(topic, rng, _core(topic, rng), intro=opener, outro=closer)


def _rejected(mode: str, topic: Topic, donor: Topic, rng: random.Random) -> str:
    if mode == "wrong_fact":
        return _render(topic, rng, _core(topic, rng, wrong=True))
    if mode == "off_topic":
        return _render(donor, rng, _core(donor, rng))
    if mode in ("vague", "refusal"):
        return _sentences(mode, topic, rng, 4)
    makers = {"harmful_advice": _harmful, "incomplete": _incomplete, "repetitive": _repetitive}
    return {**makers, "rude": _rude}[mode](topic, rng)


def _eligible(topic: Topic, mode: str) -> bool:
    return {"wrong_fact": bool(topic.wrong), "harmful_advice": topic.steps}.get(mode, True)


def _make_row(topic: Topic, mode: str, donor: Topic, rng: random.Random) -> dict[str, str]:
    t = tables()
    prompt = rng.choice(t["openers"]) + fill(rng.choice(t["prompts"][topic.kind]), topic)
    chosen_longer = rng.random() < 0.5
    for _ in range(MAX_ATTEMPTS):
        chosen, rejected = (
            _render(topic, rng, _core(topic, rng)),
            _rejected(mode, topic, donor, rng),
        )
        if (
            len(chosen) != len(rejected)
            and (len(chosen) > len(rejected)) == chosen_longer
            and max(len(chosen.split()), len(rejected.split())) <= MAX_WORDS
        ):
            break
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, "category": mode}


def generate_pairs(num_pairs: int, seed: int = 0) -> list[dict[str, str]]:
    """``num_pairs`` rows: prompt, chosen, rejected, category (failure mode), topic, topic_group.

    Modes come in shuffled blocks (every prefix is balanced); the kind of task is drawn by the
    weights in ``phrases.yaml``, then a topic of that kind that the mode fits. The same
    ``(num_pairs, seed)`` always gives the same rows, and a shorter run is a prefix of a longer.
    """
    if num_pairs < 1:
        raise ValueError(f"num_pairs must be at least 1, got {num_pairs}")
    topics, groups = all_topics(seed), topic_groups(seed)
    members: dict[str, list[Topic]] = {}
    for topic in topics:
        members.setdefault(groups[topic.unit], []).append(topic)
    weights = tables()["kind_weights"]
    pools = {
        mode: {k: [t for t in topics if t.kind == k and _eligible(t, mode)] for k in weights}
        for mode in MODES
    }
    rng, rows = random.Random(f"rewardlab-rows:{seed}"), []
    while len(rows) < num_pairs:
        for mode in rng.sample(MODES, len(MODES)):
            pool = pools[mode]
            kinds = [k for k in weights if pool[k]]
            kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
            topic = rng.choice(pool[kind])
            group = groups[topic.unit]
            donor = rng.choice([t for t in members[group] if t.unit != topic.unit])
            row_rng = random.Random(f"rewardlab-row:{seed}:{len(rows)}")
            row = _make_row(topic, mode, donor, row_rng)
            rows.append({**row, "topic": topic.unit, "topic_group": group})
    return rows[:num_pairs]
