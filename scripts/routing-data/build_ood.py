#!/usr/bin/env python3
"""Builds data/routing/ood/proxy-ood.jsonl: a small out-of-distribution check for the task classifier, never trained on.

Two parts:
  * 98 of the 252 user-oriented instructions of self-instruct (yizhongw/self-instruct @ 0b26ccaa415992100fa32df62d41b994cf928e23,
    human_eval/user_oriented_instructions.jsonl, Apache-2.0): expert-written requests motivated by real apps (Gmail,
    StackOverflow, Wolfram Alpha, ...), hand-labelled here into our routes (the row numbers are listed below; rows that
    fit no route cleanly, e.g. rewriting and translation, are left out). Text: the instruction, a blank line, the input.
  * HANDWRITTEN: long chat-style prompts written for this project (pasted code with a question, LaTeX math, a document
    to summarise or extract from, creative requests wrapped in conversation).

None of it comes from MT-Bench, Arena-Hard, Chatbot Arena or LMSYS-Chat. It must stay out of data/routing/*.jsonl
(the training inputs): train-router only reads that folder's top level, and this file lives in ood/.

Usage: python3 scripts/routing-data/build_ood.py --self-instruct DIR [--out data/routing/ood/proxy-ood.jsonl]
"""

import argparse
import json
import os
import subprocess

COMMIT = "0b26ccaa415992100fa32df62d41b994cf928e23"
PATH = "human_eval/user_oriented_instructions.jsonl"

LABELS = {
    "code": [12, 13, 89, 93, 96, 190, 195, 205, 210, 227, 242, 38, 226],
    "math_reasoning": [19, 140, 141, 142, 143, 144],
    "creative_writing": [5, 7, 9, 25, 49, 57, 58, 60, 61, 65, 74, 75, 186, 211, 230, 29, 32, 223, 54, 73],
    "summarization": [98, 159, 160, 181, 202],
    "extraction": [28, 102, 157, 162, 176, 179, 212, 247, 127],
    "classification": [36, 139, 158, 163, 164, 165, 166, 183, 184, 194, 197, 232, 235, 238, 244],
    "brainstorming": [10, 26, 34, 46, 66, 68, 94, 111, 118, 128, 130, 177, 249, 215, 104, 172, 106],
    "open_qa": [17, 71, 77, 85, 88, 115, 126, 137, 171, 239, 245, 251, 84],
}

HANDWRITTEN = [
    ("code", """I have this Go handler and under load it sometimes returns an empty body. Any idea why?

```go
func (s *Server) handle(w http.ResponseWriter, r *http.Request) {
    var buf bytes.Buffer
    go func() {
        json.NewEncoder(&buf).Encode(s.cache.Snapshot())
    }()
    w.Header().Set("Content-Type", "application/json")
    w.Write(buf.Bytes())
}
```

It works fine locally with curl."""),
    ("code", """Here's my SQL:

SELECT c.name, COUNT(o.id)
FROM customers c
LEFT JOIN orders o ON o.customer_id = c.id
WHERE o.created_at > '2024-01-01'
GROUP BY c.name;

Customers with no orders disappear from the result even though I used a LEFT JOIN. Why, and how do I keep them?"""),
    ("code", """hey so i'm learning rust and the borrow checker hates me lol. this doesn't compile:

    let mut v = vec![1, 2, 3];
    let first = &v[0];
    v.push(4);
    println!("{}", first);

error[E0502]: cannot borrow `v` as mutable because it is also borrowed as immutable. what's the idiomatic fix?"""),
    ("code", """Can you write a small TypeScript function that debounces another function, with proper generic types for the arguments? I want to use it for a search box in React. Please also show how I'd use it in a component."""),
    ("code", """My Python script is really slow on a 2 GB CSV:

```python
rows = []
for line in open('data.csv'):
    parts = line.split(',')
    if parts[3] == 'DE':
        rows.append(parts)
df = pd.DataFrame(rows)
```

How would you speed this up? Memory is also a problem on my laptop."""),
    ("math_reasoning", """Let $f(x) = x^3 - 3x + 1$. Show that $f$ has exactly three real roots and find the interval of length 1 containing each of them. I tried the intermediate value theorem but I'm not sure how to argue there are no more than three."""),
    ("math_reasoning", """I'm stuck on my probability homework. A bag has 5 red and 7 blue marbles. We draw 3 without replacement. What's the probability that at least two are red? I keep getting 0.32 but the answer key says something else, can you walk me through it?"""),
    ("math_reasoning", """Evaluate the integral
$$\\int_0^{\\pi/2} \\frac{\\sin^2 x}{\\sin x + \\cos x}\\,dx$$
and explain the substitution you use."""),
    ("math_reasoning", """Prove that for every positive integer $n$, $\\sum_{k=1}^{n} k^3 = \\left(\\frac{n(n+1)}{2}\\right)^2$. Please use induction and write it up cleanly, I need to hand it in."""),
    ("math_reasoning", """A train leaves city A at 9:00 going 80 km/h toward city B, 300 km away. Another leaves B at 9:30 going 100 km/h toward A. At what time do they meet, and how far from A? Show the equations."""),
    ("creative_writing", """My daughter is turning 8 and she's obsessed with octopuses and space. Could you write a short bedtime story (around 500 words) about an octopus astronaut who is scared of the dark? Something gentle with a happy ending, please."""),
    ("creative_writing", """Write a sonnet about leaving your hometown, in the style of Shakespeare but with modern imagery (trains, phones, that kind of thing)."""),
    ("creative_writing", """I'm the best man at my brother's wedding next week and I'm terrible at speeches. Some facts: his name is Tom, bride is Anna, they met at a climbing gym, he once got lost for 6 hours on a hike with a map in his pocket. Can you write a 3-minute toast that is funny but not embarrassing?"""),
    ("creative_writing", """Continue this story for a few paragraphs, keep the eerie tone:

The lighthouse keeper had not seen a ship in forty days, which was why the knock at the door, at three in the morning, made him drop the lamp."""),
    ("extraction", """From the email below, pull out every date, time and location mentioned and give them to me as a JSON list.

Hi all,
Quick update on the offsite: we moved the kickoff to Tuesday March 4 at 9:30 in the Harbor Room (3rd floor). Lunch will be at Rosie's on Pine Street at 12:15. On Wednesday the workshop starts at 10:00 in Building C, room 204, and we wrap up with dinner at 7pm at the hotel.
Thanks, Priya"""),
    ("extraction", """Here's a paragraph from a paper I'm reading:

"We trained all models for 300k steps with a batch size of 2048 on 64 TPUv4 chips. The learning rate was warmed up linearly over the first 10k steps to 3e-4 and then decayed with a cosine schedule. Dropout was set to 0.1 and weight decay to 0.01."

What learning rate schedule and hardware did they use?"""),
    ("extraction", """Contract excerpt:

This Agreement is entered into on June 1, 2023 by and between Northwind Traders LLC ("Supplier") and Contoso Retail Inc. ("Buyer"). The Supplier agrees to deliver 5,000 units monthly. Either party may terminate with 60 days written notice. Governing law: the State of Delaware.

Who are the parties, what is the notice period, and which law governs it?"""),
    ("summarization", """Can you summarize this for my team in three bullet points?

Our Q3 results came in below plan. Revenue grew 4% quarter over quarter, against a plan of 9%, mainly because two large enterprise deals slipped into Q4. Churn improved from 3.1% to 2.4% after the onboarding redesign, and support tickets per customer fell by a fifth. Hiring is paused until the deals close. We expect Q4 to recover most of the gap if both contracts sign before November."""),
    ("summarization", """tl;dr this please:

The city council voted 7-2 on Monday to approve a pilot program that will close three downtown streets to car traffic on weekends from May through September. Supporters argued the change would boost foot traffic for local businesses and make the area safer for cyclists. Opponents, including several shop owners, worried that delivery schedules would be disrupted and that customers from outside the city would stop coming. The program will be reviewed in October using sales tax data and pedestrian counts."""),
    ("open_qa", """Why is the sky blue but sunsets are red? I get that it's something about scattering, but I never understood why the same effect gives two different colours."""),
    ("open_qa", """Honest question, not trying to start a fight: what actually caused the 2008 financial crisis? People keep blaming different things and I'd like a balanced explanation."""),
    ("open_qa", """What's the difference between a virus and a bacterium, and why don't antibiotics work on viruses?"""),
    ("brainstorming", """I'm organising a team offsite for 15 engineers, budget is tight, and half the team is remote. Give me some ideas for activities that work for both in-person and remote people."""),
    ("classification", """Label each of these support tickets as billing, bug, or feature request:
1. I was charged twice this month
2. The export button does nothing on Safari
3. Could you add dark mode?
4. My invoice shows the wrong VAT number"""),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--self-instruct", required=True, help="git dir of yizhongw/self-instruct")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "data", "routing", "ood", "proxy-ood.jsonl"))
    args = ap.parse_args()
    blob = subprocess.run(["git", "-C", args.self_instruct, "show", f"{COMMIT}:{PATH}"], check=True, capture_output=True).stdout
    rows = [json.loads(l) for l in blob.decode().splitlines() if l.strip()]
    out, seen = [], set()
    for label, ids in LABELS.items():
        for i in ids:
            assert i not in seen, i
            seen.add(i)
            r = rows[i]
            inp = r["instances"][0]["input"].strip()
            text = r["instruction"].strip() + ("\n\n" + inp if inp else "")
            out.append({"id": "uoi-" + r["id"], "text": text, "label": label, "source_category": r["motivation_app"],
                        "source_dataset": "self-instruct user-oriented",
                        "source": {"repo": "yizhongw/self-instruct", "path": PATH, "commit": COMMIT},
                        "licence": "Apache-2.0 (yizhongw/self-instruct)",
                        "mapping": f"row {i} hand-labelled {label} by this project (scripts/routing-data/build_ood.py LABELS)"})
    for n, (label, text) in enumerate(HANDWRITTEN):
        out.append({"id": f"hand-{n:03d}", "text": text, "label": label, "source_category": label, "source_dataset": "handwritten chat-style",
                    "source": {"repo": "ModelRouter.Native", "path": "scripts/routing-data/build_ood.py", "commit": None},
                    "licence": "written for this project (same licence as the repository)", "mapping": "written for this label"})
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w", encoding="utf-8", newline="\n") as f:
        for r in out:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"{args.out}: {len(out)} rows")


if __name__ == "__main__":
    main()
