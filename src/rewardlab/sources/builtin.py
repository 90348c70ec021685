"""Built-in synthetic pairwise preference data, so the pipeline runs with no network.

Why this exists: the reward-model pipeline normally trains on the Hugging Face dataset
``Dahoas/synthetic-instruct-gptj-pairwise``. A newcomer without network access (or without
patience for a download) still deserves a meaningful run, so this module generates rows in
exactly that schema -- ``{"prompt": str, "chosen": str, "rejected": str}`` -- from small
hand-written tables, using only the standard library.

How a row is built: a prompt is one of the topics below asked through one of the instruction
shapes (explain, list key facts, summarize, describe to a child, ...), optionally preceded by a
short conversational opener. The chosen answer is fluent, on topic, complete, and built only
from that topic's true facts, fitted to the shape (prose or a list). The rejected answer shows
one of :data:`FAILURE_MODES`, assigned in shuffled blocks of five so the modes stay evenly mixed
in any prefix of the output:

* ``off_topic`` -- a good answer, but about a different topic;
* ``evasive`` -- refuses or deflects, sometimes in one line, sometimes wordily;
* ``factually_wrong`` -- same topic, shape and style, but built from hand-written false facts;
* ``repetitive`` -- loops one phrase or sentence;
* ``incomplete`` -- starts like a good answer and trails off mid-sentence.

Why length is balanced, and how: reward models latch on to length when it is predictive, and a
model that learns "longer wins" looks good on biased data while learning nothing about quality.
Every row therefore draws a fair coin deciding whether the chosen or the rejected answer is
the longer one (in characters), and then resamples both answers -- their number of facts,
intro/outro sentences, repeat counts, cut points and evasion sentences all vary -- until the
coin is honoured. The rule "the longer response wins" thus scores close to 0.5 overall and
within every failure mode, so the only way to rank the pairs is to read them.

Determinism: every random choice comes from ``random.Random`` seeded with the caller's seed (or
a string derived from it, which ``random`` hashes with SHA-512), and all tables are tuples, so
the output never depends on ``PYTHONHASHSEED``.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass

__all__ = [
    "FAILURE_MODES",
    "SHAPES",
    "TOPICS",
    "Shape",
    "Topic",
    "generate_pairs",
    "generate_pairs_with_modes",
    "max_pairs",
]

FAILURE_MODES: tuple[str, ...] = (
    "off_topic",
    "evasive",
    "factually_wrong",
    "repetitive",
    "incomplete",
)


@dataclass(frozen=True)
class Topic:
    """A subject with true facts for good answers and false ones for factually wrong answers."""

    name: str  # as written mid-sentence, e.g. "the water cycle"
    facts: tuple[str, ...]
    wrong_facts: tuple[str, ...]


# One block per topic: "# name", then "+" lines (true facts) and "-" lines (false facts written
# in the same style, so that only the content -- not the wording -- gives them away).
_TOPIC_TABLE = """
# photosynthesis
+ Photosynthesis is how plants turn sunlight, water and carbon dioxide into sugar.
+ Photosynthesis happens mainly in the chloroplasts inside leaf cells.
+ Chlorophyll, the green pigment in leaves, absorbs the light that powers photosynthesis.
+ Photosynthesis releases oxygen as a by-product, which animals need to breathe.
- Photosynthesis is how plants turn moonlight and salt into protein.
- Photosynthesis happens mainly in the roots, far away from any light.
- Photosynthesis absorbs oxygen from the air and releases only carbon dioxide.
# the French Revolution
+ The French Revolution began in 1789, and the Bastille was stormed on 14 July that year.
+ The French Revolution overthrew the monarchy, and King Louis XVI was executed in 1793.
+ The Declaration of the Rights of Man and of the Citizen was adopted in 1789.
+ The revolutionary period ended in 1799, when Napoleon Bonaparte seized power.
- The French Revolution began in 1889 with the opening of the Eiffel Tower.
- The French Revolution strengthened the monarchy, and Louis XVI ruled until old age.
- The revolutionary period ended in 1815, when Queen Victoria took the French throne.
# compound interest
+ Compound interest is interest earned on the original sum and on interest already added.
+ With compound interest, savings grow faster the longer the money stays invested.
+ At 10 percent a year, 100 dollars compounds to 121 dollars after two years.
+ Compound interest also works against borrowers, so unpaid debts can grow quickly.
- Compound interest is paid only on the original sum, never on interest already added.
- At 10 percent a year, 100 dollars compounds to 300 dollars after two years.
- Compound interest only helps borrowers, so unpaid debts always shrink over time.
# volcanoes
+ A volcano is an opening in the Earth's crust where molten rock, called magma, escapes.
+ Once magma reaches the surface of a volcano, it is called lava.
+ Many volcanoes sit along the Pacific Ring of Fire, where tectonic plates meet.
+ Volcanic ash and gas can disrupt air travel and even cool the climate for a while.
- A volcano is a hole full of frozen water that erupts once every thousand years.
- Lava is cold, solid rock that falls down from the clouds.
- Most volcanoes sit in the middle of the Sahara, far from any plate boundary.
# the water cycle
+ In the water cycle, the Sun heats water so it evaporates from oceans, lakes and rivers.
+ Water vapour cools as it rises and condenses into clouds.
+ Water falls back to the ground as precipitation, such as rain or snow.
+ Rivers and groundwater carry water back to the sea, and the water cycle starts again.
- In the water cycle, the Moon freezes the oceans so water sinks into the Earth's core.
- Water vapour heats up as it rises and turns into sand.
- Water falls back to the ground only once a century, as hail made of salt.
# sourdough bread
+ Sourdough bread is leavened by a starter of wild yeast and lactic acid bacteria.
+ A sourdough starter is simply flour and water that is fed regularly.
+ The bacteria in a starter make acids that give sourdough its tangy flavour.
+ Sourdough usually rises more slowly than bread made with commercial yeast.
- Sourdough bread is leavened with baking soda and vinegar, with no yeast at all.
- A sourdough starter is made of sugar and milk and never needs feeding.
- Sourdough rises in a few seconds, much faster than any other bread.
# black holes
+ A black hole is a region of space where gravity is so strong that not even light escapes.
+ Many black holes form when very massive stars collapse at the end of their lives.
+ The boundary around a black hole is called the event horizon.
+ A supermassive black hole sits at the centre of our Milky Way galaxy.
- A black hole is a thin cloud of dust that light passes through easily.
- Black holes form when small planets cool down and turn black.
- The Milky Way has no black holes, because they only exist in other universes.
# vaccines
+ Vaccines train the immune system to recognise a germ without causing the disease.
+ Many vaccines contain a weakened or inactivated germ, or just a harmless piece of it.
+ Vaccination helped eradicate smallpox, which was declared gone in 1980.
+ When enough people are vaccinated, herd immunity also protects those who cannot be.
- Vaccines work by giving people the full disease so that they get sick first.
- Vaccines contain living germs that are made stronger in the lab before injection.
- Vaccination made smallpox spread, and the disease is still common everywhere today.
# the human heart
+ The human heart is a muscular pump with four chambers, two atria and two ventricles.
+ The right side of the heart sends blood to the lungs to pick up oxygen.
+ The left side of the heart pumps oxygen-rich blood to the rest of the body.
+ An adult heart at rest usually beats about 60 to 100 times a minute.
- The human heart has a single chamber and is made mostly of bone.
- The heart sends blood to the stomach to pick up oxygen.
- An adult heart at rest usually beats about 5 times a minute.
# earthquakes
+ Earthquakes happen when rocks along a fault suddenly slip and release stored energy.
+ The point underground where an earthquake starts is called the focus, or hypocentre.
+ Seismometers record the waves that an earthquake sends through the ground.
+ Earthquakes under the sea can trigger tsunamis.
- Earthquakes happen when the Moon pulls mountains up out of the ground.
- The point where an earthquake starts is always high up in the atmosphere.
- Earthquakes under the sea calm the water and can never cause large waves.
# the Roman Empire
+ The Roman Empire began in 27 BC, when Augustus became its first emperor.
+ At its height, the Roman Empire surrounded the whole Mediterranean Sea.
+ The Romans built roads, aqueducts and concrete buildings that still stand today.
+ The Western Roman Empire fell in 476 AD, while the Eastern part lasted until 1453.
- The Roman Empire began in 1066, when Julius Caesar became its first king.
- At its height, the Roman Empire covered only a small island in the North Sea.
- The Western Roman Empire fell in 1950, after losing a war against Napoleon.
# DNA
+ DNA is the molecule that carries the genetic instructions of living things.
+ DNA has a double helix shape, like a twisted ladder.
+ DNA stores information with four bases: adenine, thymine, guanine and cytosine.
+ Stretches of DNA called genes hold the instructions for building proteins.
- DNA is a kind of sugar that gives living things their energy.
- DNA is shaped like a flat square with no twists at all.
- DNA stores information with only two letters, X and Y.
# the Moon
+ The Moon is Earth's only natural satellite and orbits it about every 27 days.
+ The Moon's gravity is the main cause of the ocean tides on Earth.
+ Apollo 11 astronauts first walked on the Moon in July 1969.
+ The Moon shines by reflecting sunlight and makes no light of its own.
- The Moon is a planet larger than Earth that orbits the Sun once a day.
- The Moon has no effect at all on Earth, including on the tides.
- The first people to walk on the Moon landed there in 1925.
# honeybees
+ Honeybees live in colonies with a single queen that lays the eggs.
+ Worker bees collect nectar and pollen, and turn the nectar into honey.
+ Honeybees pollinate many crops, including apples, almonds and berries.
+ Honeybees use a waggle dance to tell each other where to find food.
- Honeybees live alone, and every bee lays its own eggs.
- Worker bees make honey from tree bark and rainwater.
- Honeybees harm crops and never carry pollen between flowers.
# rainbows
+ A rainbow forms when sunlight is refracted, reflected and split into colours by raindrops.
+ You see a rainbow when the Sun is behind you and rain is in front of you.
+ Rainbow colours always run in the same order, with red on the outside and violet inside.
+ Sometimes a fainter second rainbow appears, with its colours reversed.
- A rainbow forms when moonlight bounces off the snow on mountain tops.
- You can only see a rainbow by looking straight at the Sun.
- Rainbow colours appear in a random order that changes every time.
# plate tectonics
+ Plate tectonics says the Earth's outer shell is broken into large, slowly moving plates.
+ Tectonic plates move a few centimetres a year, about as fast as fingernails grow.
+ Where plates collide, mountain ranges such as the Himalayas can form.
+ Earthquakes and volcanoes are common along the boundaries between plates.
- Plate tectonics says the Earth's surface is one solid piece that never moves.
- Tectonic plates move hundreds of kilometres every day.
- Mountain ranges such as the Himalayas were piled up by ancient rivers carrying sand.
# the Great Wall of China
+ The Great Wall of China is a series of walls built over centuries to defend northern China.
+ Much of the Great Wall that survives today was built during the Ming dynasty.
+ Counting all its branches, the Great Wall stretches for thousands of kilometres.
+ Despite a popular myth, the Great Wall cannot be seen with the naked eye from the Moon.
- The Great Wall of China was built in a single year to hold back floods.
- Most of the Great Wall was built in the twentieth century from steel.
- The Great Wall is only about two kilometres long.
# the printing press
+ Johannes Gutenberg developed a movable-type printing press in Europe around 1440.
+ The Gutenberg Bible, printed in the 1450s, was one of the first major printed books.
+ The printing press made books cheaper and helped spread literacy and new ideas.
+ Printing helped fuel the Renaissance, the Reformation and the Scientific Revolution.
- The printing press was invented by Thomas Edison in 1920.
- The printing press made books far more expensive and rarer than before.
- The first printed book in Europe was a newspaper about the Moon landing.
# the Internet
+ The Internet is a global network of computers that communicate using shared protocols.
+ The Internet grew out of ARPANET, a US research network started in 1969.
+ The World Wide Web, invented by Tim Berners-Lee in 1989, runs on top of the Internet.
+ Data travels across the Internet in small pieces called packets.
- The Internet is a single giant computer kept in one building.
- The World Wide Web was invented by Isaac Newton in 1687.
- Data travels across the Internet as one huge file sent by post.
# the immune system
+ The immune system defends the body against germs such as bacteria and viruses.
+ White blood cells are the main soldiers of the immune system.
+ Antibodies are proteins that stick to specific germs and mark them for destruction.
+ The immune system remembers past infections, so it reacts faster the next time.
- The main job of the immune system is to digest food in the stomach.
- Red blood cells are the only part of the immune system.
- The immune system forgets every infection, so it reacts more slowly each time.
# electricity
+ Electricity is the flow of electric charge, usually carried by electrons.
+ Electric current is measured in amperes, and voltage is measured in volts.
+ Metals such as copper conduct electricity well, while rubber and plastic insulate.
+ An electric circuit must be a complete loop for current to flow.
- Electricity is the flow of tiny drops of water through wires.
- Electric current is measured in kilograms, and voltage is measured in litres.
- Rubber is the best conductor of electricity, which is why wires are made of it.
# gravity
+ Gravity is the force that pulls objects with mass toward each other.
+ Near Earth's surface, gravity makes falling objects speed up by about 9.8 metres per second.
+ Isaac Newton described gravity with his law of universal gravitation in 1687.
+ Einstein's general relativity explains gravity as the bending of space and time.
- Gravity is the force that pushes objects with mass away from each other.
- In a vacuum, heavy objects fall ten times faster than light ones.
- Gravity was first described by Albert Einstein in 1492.
# the solar system
+ The solar system is the Sun and everything that orbits it, including eight planets.
+ Mercury is the planet closest to the Sun.
+ Jupiter is the largest planet in the solar system.
+ Earth is the third planet from the Sun.
- The solar system has twenty planets, and they all orbit the Moon.
- Neptune is the planet closest to the Sun.
- Mercury is the largest planet in the solar system.
# coral reefs
+ Coral reefs are built by colonies of tiny animals called coral polyps.
+ Reefs cover a tiny part of the ocean floor but shelter about a quarter of marine species.
+ Corals get much of their food from algae that live inside their tissues.
+ Warming seas can cause coral bleaching, when corals expel their algae.
- Coral reefs are made of plants that grow on land and wash into the sea.
- Coral reefs support almost no sea life at all.
- Warming seas make corals healthier and can never cause bleaching.
# the Amazon rainforest
+ The Amazon is the largest tropical rainforest on Earth.
+ Most of the Amazon rainforest lies in Brazil.
+ The Amazon rainforest is home to millions of species of plants, insects and animals.
+ The Amazon River carries more water than any other river in the world.
- The Amazon is a small desert in northern Canada.
- Most of the Amazon rainforest lies in Australia.
- The Amazon rainforest has very few species because it is too cold for most life.
# William Shakespeare
+ William Shakespeare was an English playwright and poet, born in 1564.
+ Shakespeare wrote plays such as Hamlet, Macbeth and Romeo and Juliet.
+ Many of Shakespeare's plays were performed at the Globe Theatre in London.
+ Shakespeare added many words and phrases to the English language.
- William Shakespeare was a French painter, born in 1910.
- Shakespeare's most famous work is the Russian novel War and Peace.
- Shakespeare never wrote any plays and worked all his life as a sailor.
# the Olympic Games
+ The ancient Olympic Games were held at Olympia in Greece, traditionally from 776 BC.
+ The modern Olympic Games began in Athens in 1896.
+ The Summer and Winter Olympic Games are each held every four years.
+ The five Olympic rings stand for the union of the continents.
- The Olympic Games were invented in 1990 in Las Vegas.
- The modern Olympic Games are held every single month.
- The five Olympic rings stand for the five planets closest to the Sun.
# chess
+ Chess is a strategy game for two players on a board of 64 squares.
+ In chess, each player starts with sixteen pieces, including one king.
+ The goal in chess is to checkmate the opponent's king so it cannot escape.
+ The knight is the only chess piece that can jump over other pieces.
- Chess is a game for six players on a round board with 12 squares.
- In chess, each player starts with three pieces and no king.
- The bishop is the only chess piece that can jump over other pieces.
# coffee
+ Coffee is brewed from the roasted seeds of the coffee plant, often called beans.
+ Coffee contains caffeine, a stimulant that helps people feel alert.
+ The two most common coffee species are arabica and robusta.
+ Brazil is the largest coffee producer in the world.
- Coffee is brewed from the dried leaves of the tea plant.
- Coffee contains no caffeine and makes people sleepy.
- Most of the world's coffee is grown in Antarctica.
# sleep
+ Most adults need about seven to nine hours of sleep a night.
+ Sleep moves through repeating cycles of light, deep and REM sleep.
+ Most vivid dreaming happens during REM sleep.
+ Good sleep supports memory, mood and the immune system.
- Most adults need only one hour of sleep a week.
- Sleep is a single unchanging state with no stages at all.
- Skipping sleep improves memory and makes people healthier.
# regular exercise
+ Regular exercise strengthens the heart, the lungs and the muscles.
+ Health guidelines suggest about 150 minutes of moderate exercise a week for adults.
+ Exercise releases endorphins, which can lift your mood.
+ Weight-bearing exercise such as walking helps keep bones strong.
- Regular exercise weakens the heart and damages the lungs.
- Health guidelines suggest about one minute of exercise a year for adults.
- Exercise makes bones softer and more likely to break.
# inflation
+ Inflation is the general rise in prices over time, which reduces what money can buy.
+ Inflation is often measured with a consumer price index.
+ Many central banks aim to keep inflation around 2 percent a year.
+ Central banks often raise interest rates to bring inflation down.
- Inflation is when prices fall every year and money buys more and more.
- Inflation is measured by counting the number of banks in a country.
- Central banks fight inflation by printing as much money as possible.
# the stock market
+ A stock, or share, is a small piece of ownership in a company.
+ The stock market lets people buy and sell shares of public companies.
+ Stock prices move up and down with supply, demand and company news.
+ Spreading money across many companies lowers the risk of a big loss.
- A stock is a loan that a company must repay with a fixed gift.
- Stock prices are set once a decade by the government and never change.
- Putting all your money into one company is the safest way to invest.
# budgeting
+ A budget is a plan for how to spend and save your income.
+ A popular rule of thumb is 50 percent for needs, 30 for wants and 20 for savings.
+ Tracking your spending for a month shows where the money really goes.
+ An emergency fund covering a few months of expenses protects against surprises.
- A budget is a list of things you plan to buy once you win the lottery.
- A popular rule of thumb is to spend 150 percent of your income every month.
- Tracking your spending always makes you spend more money.
# the Renaissance
+ The Renaissance was a European cultural movement from about the 14th to the 17th century.
+ The Renaissance began in Italy, especially in Florence.
+ Leonardo da Vinci and Michelangelo were famous Renaissance artists.
+ Renaissance thinkers revived interest in ancient Greek and Roman learning.
- The Renaissance was a 20th century movement that began in Japan.
- Pablo Picasso and Andy Warhol were famous Renaissance artists.
- Renaissance thinkers rejected all ancient Greek and Roman learning.
# ancient Egypt
+ Ancient Egyptian civilization grew up along the Nile River.
+ The Great Pyramid of Giza was built as a tomb for the pharaoh Khufu.
+ Ancient Egyptians wrote with hieroglyphs, a script of pictures and symbols.
+ The Rosetta Stone helped scholars decode hieroglyphs in the 1820s.
- Ancient Egyptian civilization grew up along the Amazon River.
- The Great Pyramid of Giza was built as a market for Roman traders.
- Ancient Egyptians wrote only with the letters of modern English.
# the Industrial Revolution
+ The Industrial Revolution began in Britain in the late 18th century.
+ Steam engines, improved by James Watt, powered factories, mines and railways.
+ Textile production was one of the first industries to be mechanised.
+ During the Industrial Revolution, many people moved from farms to cities to work.
- The Industrial Revolution began in ancient Rome in the year 100.
- Factories during the Industrial Revolution ran on solar panels.
- During the Industrial Revolution, most people left the cities to live on farms.
# antibiotics
+ Antibiotics are medicines that kill bacteria or stop them from growing.
+ Alexander Fleming discovered penicillin, the first widely used antibiotic, in 1928.
+ Antibiotics do not work against viruses such as the common cold.
+ Overusing antibiotics helps bacteria become resistant to them.
- Antibiotics are medicines that cure viral infections such as the common cold.
- Penicillin was discovered by Marie Curie in 1750.
- Taking antibiotics as often as possible prevents resistance.
# the tides
+ Tides are the regular rise and fall of the sea level along the coast.
+ Tides are caused mainly by the Moon's gravity, with some help from the Sun.
+ Most coasts get two high tides and two low tides roughly every day.
+ Extra-large spring tides happen when the Sun, the Moon and Earth line up.
- Tides are caused by the wind from passing ships.
- Most coasts get exactly one high tide each year.
- Spring tides happen only in spring, when the flowers bloom.
# sharks
+ Sharks are fish whose skeletons are made of cartilage rather than bone.
+ Sharks have existed for more than 400 million years.
+ The whale shark is the largest fish in the sea and mostly eats plankton.
+ Many sharks must keep swimming to push water over their gills.
- Sharks are mammals that breathe air through lungs, like whales.
- Sharks first appeared only about one hundred years ago.
- The whale shark is a tiny fish that eats only other sharks.
# penguins
+ Penguins are flightless birds that live almost entirely in the Southern Hemisphere.
+ Penguin wings have evolved into stiff flippers for swimming.
+ Emperor penguins, the largest species, breed during the Antarctic winter.
+ Penguins eat fish, squid and krill that they catch underwater.
- Penguins are flying birds that mostly live near the North Pole.
- Penguins use their wings to fly long distances over the desert.
- Penguins eat only grass and leaves.
# Mount Everest
+ Mount Everest is the highest mountain above sea level, at about 8,849 metres.
+ Mount Everest lies in the Himalayas, on the border of Nepal and China.
+ Edmund Hillary and Tenzing Norgay first reached the summit of Everest in 1953.
+ Climbers near the top of Everest face thin air, extreme cold and strong winds.
- Mount Everest is a small hill about 300 metres high.
- Mount Everest lies in the Alps, in the middle of Switzerland.
- The first climbers reached the summit of Everest in 1850.
# recycling
+ Recycling turns used materials such as paper, glass and metal into new products.
+ Recycling aluminium cans uses far less energy than making new aluminium.
+ Glass can be recycled again and again without losing quality.
+ Sorting and rinsing items helps keep recycled material clean and usable.
- Recycling means burying used materials so that they disappear forever.
- Recycling aluminium cans uses far more energy than making new aluminium.
- Glass can never be recycled and must always be thrown away.
# hurricanes
+ Hurricanes are tropical storms with winds of at least 119 kilometres per hour.
+ Hurricanes form over warm ocean water.
+ The calm centre of a hurricane is called the eye.
+ The same kind of storm is called a typhoon in the northwest Pacific.
- Hurricanes form over frozen land in the middle of winter.
- The centre of a hurricane is its windiest and most violent part.
- Hurricanes have winds of only about 5 kilometres per hour.
# the periodic table
+ The periodic table arranges the chemical elements in order of atomic number.
+ Dmitri Mendeleev published an early version of the periodic table in 1869.
+ Elements in the same column of the periodic table often behave alike chemically.
+ Hydrogen, with atomic number 1, is the first element in the periodic table.
- The periodic table arranges the chemical elements by colour, in alphabetical order.
- William Shakespeare published the first periodic table in 1600.
- Gold, with atomic number 1, is the first element in the periodic table.
"""


def _parse_topics(table: str) -> tuple[Topic, ...]:
    topics: list[Topic] = []
    for block in table.strip().split("# ")[1:]:
        name, *lines = block.strip().splitlines()
        facts = tuple(line[2:] for line in lines if line.startswith("+ "))
        wrong = tuple(line[2:] for line in lines if line.startswith("- "))
        topics.append(Topic(name.strip(), facts, wrong))
    return tuple(topics)


TOPICS: tuple[Topic, ...] = _parse_topics(_TOPIC_TABLE)


@dataclass(frozen=True)
class Shape:
    """An instruction shape: how the prompt is phrased and how a good answer is laid out.

    ``layout`` is ``"prose"``, ``"bullets"`` or ``"numbered"``. ``intros`` may use ``{t}`` for
    the topic name; an empty intro means the answer starts directly with a fact.
    """

    name: str
    templates: tuple[str, ...]
    layout: str
    intros: tuple[str, ...]


SHAPES: tuple[Shape, ...] = (
    Shape(
        "explain",
        ("Explain {t} in simple terms.", "Can you explain {t} to me briefly?"),
        "prose",
        ("Sure.", "Happy to explain {t}.", "Here is a simple explanation.", ""),
    ),
    Shape(
        "overview",
        ("Tell me about {t} in a few sentences.", "Give me a quick overview of {t}."),
        "prose",
        ("Here is a quick overview of {t}.", "Glad to.", ""),
    ),
    Shape(
        "key_facts",
        ("List the key facts about {t}.", "What are the main facts about {t}? Please use a list."),
        "bullets",
        ("Key facts about {t}:", "Here are the key facts:"),
    ),
    Shape(
        "points",
        (
            "Give me a few quick points to remember about {t}.",
            "What are the most important things to remember about {t}?",
        ),
        "numbered",
        ("Points to remember:", "Here are the main points about {t}:"),
    ),
    Shape(
        "summary",
        ("Summarize what is known about {t}.", "Can you give me a short summary of {t}?"),
        "prose",
        ("In short:", "Here is a short summary.", ""),
    ),
    Shape(
        "why",
        ("Why is {t} worth learning about?", "Why should I care about {t}?"),
        "prose",
        ("Good question.", "Because {t} shows up in many places.", ""),
    ),
    Shape(
        "paragraph",
        (
            "Write a short paragraph about {t}.",
            "Write a few sentences about {t} for a school report.",
        ),
        "prose",
        ("",),
    ),
    Shape(
        "child",
        ("Describe {t} to a child.", "How would you explain {t} to a ten-year-old?"),
        "prose",
        ("Here is a simple way to put it.", "Imagine you are learning this today."),
    ),
    Shape(
        "beginner",
        (
            "What should a beginner know about {t}?",
            "I am new to this subject. What are the basics of {t}?",
        ),
        "prose",
        ("A beginner should start with the basics.", "Start with these basics.", ""),
    ),
    Shape(
        "notes",
        ("Write some study notes on {t}.", "Make a short revision sheet about {t}."),
        "bullets",
        ("Study notes on {t}:", "Revision notes:"),
    ),
    Shape(
        "what_know",
        ("What do you know about {t}?", "What can you tell me about {t}?"),
        "prose",
        ("Here is what I know about {t}.", "Quite a bit, actually.", ""),
    ),
    Shape(
        "interesting",
        ("Share something interesting about {t}.", "Teach me something worth knowing about {t}."),
        "prose",
        ("Here is something interesting.", "Sure, here goes.", ""),
    ),
)

_OPENERS: tuple[str, ...] = (
    "",
    "Hi! ",
    "Quick question: ",
    "I am curious. ",
    "For a school project: ",
    "Hello there. ",
)
_OUTROS: tuple[str, ...] = (
    "",
    "",
    "I hope that helps.",
    "That covers the main points.",
    "Let me know if you would like more detail.",
)
_EVASIONS: tuple[str, ...] = (
    "I can't help with that.",
    "Sorry, I would rather not answer questions about {t}.",
    "You could just look it up yourself.",
    "That is really something you should research on your own.",
    "There are plenty of books and websites about {t}, so try one of those instead.",
    "Honestly, {t} is a huge subject and I don't think I can do it justice here.",
    "It depends on who you ask, and people disagree about a lot of things.",
    "I'm not sure this is a good use of my time.",
    "Why do you want to know about {t} anyway?",
    "Maybe ask a teacher or a librarian instead.",
    "I could go into detail, but it would take far too long to explain properly.",
    "Let's talk about something else.",
    "Everyone already knows the basics of {t}, so there is not much for me to add.",
    "I would prefer not to give an answer that might turn out to be incomplete.",
    "That question is too vague for me to answer.",
    "Search online and you will find everything you need.",
)
_LOOP_PHRASES: tuple[str, ...] = (
    "{T} is very important.",
    "{T} is a really interesting topic.",
    "This is the key point about {t}.",
    "There is a lot to say about {t}.",
    "It is what it is.",
    "The main thing to know is the main thing.",
)

_MAX_WORDS = 60  # keep responses short: training runs on a 2-core CPU
_MIN_CHOSEN_WORDS = 10  # a bare one-fact reply is too thin to be the preferred answer
_MAX_ATTEMPTS = 40


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _fill(template: str, topic: Topic) -> str:
    return template.replace("{t}", topic.name).replace("{T}", _cap(topic.name))


def _sample_in_order(rng: random.Random, items: tuple[str, ...], k: int) -> list[str]:
    """Pick ``k`` items, keeping the table order so that answers read coherently."""
    picks = sorted(rng.sample(range(len(items)), k))
    return [items[i] for i in picks]


def _layout(shape: Shape, topic: Topic, facts: list[str], rng: random.Random) -> str:
    """Lay out facts the way the shape asks for, with an intro and (for prose) an outro."""
    intro = _fill(rng.choice(shape.intros), topic)
    if shape.layout == "prose":
        parts = [intro, *facts, rng.choice(_OUTROS)]
        return " ".join(p for p in parts if p)
    if shape.layout == "bullets":
        items = [f"- {fact}" for fact in facts]
    else:
        items = [f"{i}. {fact}" for i, fact in enumerate(facts, start=1)]
    return "\n".join([intro, *items])


def _good_answer(shape: Shape, topic: Topic, rng: random.Random) -> str:
    k = rng.randint(1 if shape.layout == "prose" else 2, 3)
    return _layout(shape, topic, _sample_in_order(rng, topic.facts, k), rng)


def _off_topic(shape: Shape, topic: Topic, rng: random.Random) -> str:
    other = rng.choice([t for t in TOPICS if t is not topic])
    return _good_answer(shape, other, rng)


def _evasive(shape: Shape, topic: Topic, rng: random.Random) -> str:
    sentences = _sample_in_order(rng, _EVASIONS, rng.randint(1, 4))
    rng.shuffle(sentences)
    return " ".join(_fill(s, topic) for s in sentences)


def _factually_wrong(shape: Shape, topic: Topic, rng: random.Random) -> str:
    k = rng.randint(2, len(topic.wrong_facts))  # one false claim alone is too faint a signal
    return _layout(shape, topic, _sample_in_order(rng, topic.wrong_facts, k), rng)


def _repetitive(shape: Shape, topic: Topic, rng: random.Random) -> str:
    if rng.random() < 0.5:
        unit = _fill(rng.choice(_LOOP_PHRASES), topic)
    else:
        unit = rng.choice(topic.facts)
    # At least three copies, so the loop is unmistakable rather than a stray duplicate.
    times = rng.randint(3, max(3, _MAX_WORDS // len(unit.split())))
    if shape.layout == "prose":
        return " ".join([unit] * times)
    marks = ["-"] * times if shape.layout == "bullets" else [f"{i}." for i in range(1, times + 1)]
    intro = _fill(rng.choice(shape.intros), topic)
    return "\n".join([intro] + [f"{mark} {unit}" for mark in marks])


def _incomplete(shape: Shape, topic: Topic, rng: random.Random) -> str:
    full = _layout(shape, topic, _sample_in_order(rng, topic.facts, rng.randint(1, 3)), rng)
    # Cut inside the last fact: past its first word, before its final word.
    last, fact = max((full.rfind(f), f) for f in topic.facts)
    words = fact.split(" ")
    cut = rng.randint(min(3, len(words) - 2), len(words) - 2)
    head = (full[:last] + " ".join(words[:cut])).rstrip(",;: ")
    trail = rng.choice(("", "", "...", " and"))
    return head if head.endswith(" and") else head + trail


_BAD_ANSWERS = {
    "off_topic": _off_topic,
    "evasive": _evasive,
    "factually_wrong": _factually_wrong,
    "repetitive": _repetitive,
    "incomplete": _incomplete,
}


def _prompt_keys() -> list[tuple[int, int, int, int]]:
    """Every distinct prompt as (topic, shape, template, opener) indices, in a fixed order."""
    return [
        (ti, si, pi, oi)
        for ti, si, oi in itertools.product(
            range(len(TOPICS)), range(len(SHAPES)), range(len(_OPENERS))
        )
        for pi in range(len(SHAPES[si].templates))
    ]


_PROMPT_KEYS: tuple[tuple[int, int, int, int], ...] = tuple(_prompt_keys())


def max_pairs() -> int:
    """How many distinct pairs the generator offers: one per distinct prompt."""
    return len(_PROMPT_KEYS)


def _make_row(key: tuple[int, int, int, int], mode: str, seed: int) -> dict[str, str]:
    ti, si, pi, oi = key
    topic, shape = TOPICS[ti], SHAPES[si]
    prompt = _OPENERS[oi] + _fill(shape.templates[pi], topic)
    # A per-row generator keyed by the prompt makes a row independent of how many are asked for.
    rng = random.Random(f"rewardlab-builtin:{seed}:{ti}:{si}:{pi}:{oi}")
    chosen_longer = rng.random() < 0.5
    bad_answer = _BAD_ANSWERS[mode]
    for _ in range(_MAX_ATTEMPTS):
        chosen = _good_answer(shape, topic, rng)
        rejected = bad_answer(shape, topic, rng)
        if (
            (len(chosen) > len(rejected)) == chosen_longer
            and len(chosen) != len(rejected)
            and _MIN_CHOSEN_WORDS <= len(chosen.split()) <= _MAX_WORDS
            and len(rejected.split()) <= _MAX_WORDS
        ):
            break
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected}


def generate_pairs_with_modes(num_pairs: int, seed: int = 0) -> list[tuple[dict[str, str], str]]:
    """Like :func:`generate_pairs`, but also return each row's failure mode (for analysis)."""
    limit = max_pairs()
    if not 1 <= num_pairs <= limit:
        raise ValueError(
            f"num_pairs must be between 1 and {limit} (the built-in generator's limit), "
            f"got {num_pairs}"
        )
    rng = random.Random(seed)
    keys = list(_PROMPT_KEYS)
    rng.shuffle(keys)
    modes: list[str] = []
    while len(modes) < num_pairs:  # shuffled blocks of five keep every prefix balanced
        block = list(FAILURE_MODES)
        rng.shuffle(block)
        modes.extend(block)
    pairs = zip(keys[:num_pairs], modes[:num_pairs], strict=True)
    return [(_make_row(key, mode, seed), mode) for key, mode in pairs]


def generate_pairs(num_pairs: int, seed: int = 0) -> list[dict[str, str]]:
    """Return ``num_pairs`` distinct preference rows ``{"prompt", "chosen", "rejected"}``.

    The same ``(num_pairs, seed)`` always gives the same list; another seed gives another
    selection and order of prompts. Raises ``ValueError`` unless ``1 <= num_pairs <=
    max_pairs()``.
    """
    return [row for row, _ in generate_pairs_with_modes(num_pairs, seed)]
