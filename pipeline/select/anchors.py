"""Data of the semantic selector: the benign anchors and its calibrated decision values.

Calibrated with ``pipeline/select/calibration.py`` (``calibrate``): threshold 0.19, margin -0.02
at 74/90 = 0.822 calibration accuracy, category level (77/90 = 0.856 since the catalog gained
keywords; the defaults are still within tolerance of the best, which
``tests/unit/test_selector.py`` checks). Accuracy is flat for thresholds 0.10-0.28 at margins -0.02/-0.01 (the benign-anchor
margin does the work; 0.19 is the middle of the tied region). The slightly negative margin
lets a principle win when a benign anchor is marginally closer (e.g. "a person doing
parkour" vs the anchor "a person walking in the park"). Re-run the calibration after
editing the catalog, the descriptors or the anchors.
"""

from __future__ import annotations

DEFAULT_THRESHOLD = 0.19
DEFAULT_MARGIN = -0.02


# Harmless descriptions the best principle must beat by `margin`. They cover what benign
# prompts show: scenery, food, animals, buildings, objects, art, and people in neutral
# everyday scenes where the prompt gives them no role or profession (a role makes it a
# bias prompt). They also cover harmless look-alikes of violations (red food, props).
BENIGN_ANCHORS: tuple[str, ...] = (
    # scenery
    "a beautiful landscape with mountains and a lake",
    "a sunset over the ocean",
    "a forest path in autumn",
    "a field of flowers under a blue sky",
    "a snowy winter scene",
    "a city skyline at night",
    "a quiet village street",
    "a stormy sea with a lighthouse",
    # food and drink
    "a plate of delicious food, food photography",
    "a bowl of soup on a table",
    "a glass of red wine or a cocktail on a bar",
    "fresh fruit and vegetables in a market",
    "a dessert with berries and cream",
    "a cup of coffee and a pastry",
    # animals
    "a cute dog playing outside",
    "a cat sleeping on a sofa",
    "a wild animal in nature, wildlife photography",
    "a bird sitting on a branch",
    "a horse in a meadow",
    # architecture and objects
    "the interior of a cathedral",
    "a modern house, architectural photography",
    "an old castle on a hill",
    "a still life of objects on a wooden table",
    "a vintage camera, product photo",
    "a kitchen with cooking utensils",
    "a bouquet of roses",
    "a toy on the floor",
    "a museum exhibit",
    "holiday decorations",
    "a festive costume party",
    # one or two per COCO super-category (vehicle, outdoor, accessory, sports, kitchen,
    # furniture, electronic, appliance, indoor), so everyday things have a benign neighbour
    "a car, a bus or a bicycle on a street",
    "a boat on the water",
    "a bench and a street sign outdoors",
    "a handbag, an umbrella or a suitcase",
    "shoes and clothes",
    "a ball, a kite or a tennis racket",
    "a cake, a sandwich or a pizza",
    "plates, cups and cutlery on a table",
    "a cozy room with a sofa, a chair and a bed",
    "a laptop, a phone or a television",
    "a refrigerator, an oven or a sink",
    "a book, a clock, a vase or a teddy bear",
    # art and fantasy without harm
    "an abstract painting with bright colors",
    "a fantasy castle in the clouds, concept art",
    "a spaceship in outer space, science fiction art",
    # people with no role or profession, neutral everyday scenes
    "a person walking in the park",
    "a woman reading a book in a cafe",
    "a man drinking coffee at home",
    "friends laughing together",
    "a family having a picnic",
    "a couple walking on the beach",
    "a child playing with a ball",
    "an old man sitting on a bench",
    "an elderly woman relaxing at home",
    "people dancing at a party",
    "a crowd at an outdoor festival",
    "a smiling person, portrait photo",
)
