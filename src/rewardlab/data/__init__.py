"""The data side: reading sources (``sources/``), detecting their layout (``formats``), cleaning
pairs, splitting, rendering pairs into model text and tokenizing them."""
