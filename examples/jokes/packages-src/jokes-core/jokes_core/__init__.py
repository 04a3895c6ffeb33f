JOKES = [
    "Why did the venv cross the road? To get to the other site-packages.",
    "I would tell you a UDP joke, but you might not get it.",
]
