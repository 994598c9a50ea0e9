"""Build the bundled sample: real airline tweets as reviews, plus a SIMULATED complaint stream.

Deterministic (seeded). Run from the repo root:

    python scripts/make_sample_data.py --shared ../shared/data --out data/samples

Reviews: a stratified sample of the real tweets (every airline, every day), original columns.
Complaints: simulated tickets for the same airlines. A negative tweet becomes a ticket with a
probability that is higher when its text says the customer contacted the airline (called, was on
hold, DM'd, asked for a refund...). The ticket's description is the tweet's real text, its
category the tweet's real `negativereason`; ticket id, channel, open time offset, status and
resolution time are drawn at random. See data/README.md.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20150224
REVIEWS_PER_AIRLINE_DAY = 60
CONTACT = re.compile(
    r"\b(?:call(?:ed|ing)?|on hold|hold time|agent|dm(?:ed|'d)?|e-?mail(?:ed)?|complain(?:t|ed)?|"
    r"refund|claim|customer (?:service|relations)|spoke|rep)\b", re.IGNORECASE)
P_TICKET_IF_CONTACT = 0.55
P_TICKET_OTHERWISE = 0.06
P_RESOLVED = 0.7
CUSTOMERS_PER_REVIEW = 0.6  # pool size per airline, as a share of its reviews: some write often
P_TICKET_HAS_CUSTOMER_ID = 0.7  # the rest are guest tickets, linked by site/time/type only


def sample_reviews(tweets: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    created = pd.to_datetime(tweets["tweet_created"], format="%m/%d/%Y %H:%M")
    tweets = tweets.assign(_day=created.dt.date)
    parts = []
    for _, group in tweets.groupby(["airline", "_day"], sort=True):
        take = min(len(group), REVIEWS_PER_AIRLINE_DAY)
        parts.append(group.iloc[rng.choice(len(group), size=take, replace=False)])
    sample = pd.concat(parts).drop(columns="_day")
    return sample.sort_values(["tweet_created", "tweet_id"], kind="stable")


def simulate_customer_ids(reviews: pd.DataFrame, rng: np.random.Generator) -> pd.Series:
    """SIMULATED: the public tweets carry no author; draw one from a pool per airline."""
    ids = pd.Series("", index=reviews.index, dtype=object)
    for airline, group in reviews.groupby("airline", sort=True):
        pool = max(1, int(len(group) * CUSTOMERS_PER_REVIEW))
        prefix = "".join(ch for ch in str(airline) if ch.isalnum())[:3].upper()
        ids[group.index] = [f"{prefix}-C{n:05d}" for n in rng.integers(0, pool, len(group))]
    return ids


def simulate_complaints(reviews: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    negative = reviews[reviews["airline_sentiment"] == "negative"].drop_duplicates("tweet_id")
    contact = negative["text"].str.contains(CONTACT)
    p = np.where(contact, P_TICKET_IF_CONTACT, P_TICKET_OTHERWISE)
    chosen = negative[rng.random(len(negative)) < p]
    opened = pd.to_datetime(chosen["tweet_created"], format="%m/%d/%Y %H:%M") + pd.to_timedelta(
        rng.uniform(0, 6 * 3600, len(chosen)).round(), unit="s")
    resolved_mask = rng.random(len(chosen)) < P_RESOLVED
    hours = rng.exponential(48, len(chosen)).round(1)
    resolved_at = opened + pd.to_timedelta(hours, unit="h")
    return pd.DataFrame({
        "ticket_id": [f"T{100000 + i}" for i in range(len(chosen))],
        "opened_at": opened.dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(),
        "airline": chosen["airline"].to_numpy(),
        "channel": rng.choice(["phone", "email", "web form"], len(chosen)),
        "status": np.where(resolved_mask, "resolved", "open"),
        "resolved_at": np.where(resolved_mask,
                                resolved_at.dt.strftime("%Y-%m-%dT%H:%M:%S").to_numpy(), ""),
        "category": chosen["negativereason"].fillna("").to_numpy(),
        "description": chosen["text"].to_numpy(),
        "customer_id": np.where(rng.random(len(chosen)) < P_TICKET_HAS_CUSTOMER_ID,
                                chosen["customer_id"].to_numpy(), ""),
        "simulated": "yes",
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("data/samples"))
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    tweets = pd.read_csv(args.shared / "airline_tweets" / "tweets.csv", dtype={"tweet_id": str})
    reviews = sample_reviews(tweets, rng)
    reviews["customer_id"] = simulate_customer_ids(reviews, np.random.default_rng(SEED + 1))
    complaints = simulate_complaints(reviews, rng)
    (args.out / "reviews").mkdir(parents=True, exist_ok=True)
    (args.out / "complaints").mkdir(parents=True, exist_ok=True)
    reviews.to_csv(args.out / "reviews" / "airline_tweets.csv", index=False)
    complaints.to_csv(args.out / "complaints" / "complaint_tickets.csv", index=False)
    print(f"reviews: {len(reviews)} rows, complaints (simulated): {len(complaints)} rows")


if __name__ == "__main__":
    main()
