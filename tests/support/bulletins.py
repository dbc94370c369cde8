"""Templated bulletins: many reports written from one template with other facts, as agencies,
exchanges, leagues, weather services and transit operators publish them every day.

Each family is a template in the real style of its kind, filled with seeded, varied facts, so
two instances of a family share most of their wording and are nevertheless different stories.
Used by bench/dedup.py (as negatives among themselves, and with wire copies as positives) and by
the end-to-end test of templated feeds.

    families = bulletin_families(random.Random(7), per_family=20)
    families["earthquake"][0]   # Bulletin(title=..., text=...)
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from typing import NamedTuple


class Bulletin(NamedTuple):
    title: str
    text: str


DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August")
DIRECTIONS = ("north", "south", "east", "west", "north-east", "north-west", "south-east")


def _time(rng: random.Random) -> str:
    return f"{rng.randrange(24):02d}:{rng.randrange(60):02d}"


def _pct(rng: random.Random, low: float = 0.1, high: float = 3.0) -> str:
    return f"{rng.uniform(low, high):.1f}"


def earthquake(rng: random.Random) -> Bulletin:
    place, region = rng.choice(
        [
            ("Hilo", "Hawaii"),
            ("Naalehu", "Hawaii"),
            ("Ridgecrest", "California"),
            ("Anchorage", "Alaska"),
            ("Petrolia", "California"),
            ("Ferndale", "California"),
            ("Pahala", "Hawaii"),
            ("Adak", "Alaska"),
            ("Lone Pine", "California"),
            ("Cobb", "California"),
        ]
    )
    magnitude = f"{rng.uniform(2.5, 6.8):.1f}"
    distance = rng.randrange(3, 90)
    depth = rng.choice([10, rng.randrange(2, 60)])
    day = rng.choice(DAYS)
    text = (
        f"A magnitude {magnitude} earthquake struck {distance} kilometres "
        f"{rng.choice(DIRECTIONS)} of {place}, {region} at {_time(rng)} local time on {day}, "
        f"the US Geological Survey said.\n"
        f"The quake struck at a depth of {depth} kilometres. There were no immediate reports "
        f"of damage or injuries, and the Pacific Tsunami Warning Center said no tsunami was "
        f"expected.\n"
        f"The agency recorded {rng.randrange(0, 12)} aftershocks in the first hour, the "
        f"strongest of magnitude {rng.uniform(1.5, 3.5):.1f}. Residents are advised to check "
        f"gas lines and chimneys for damage and to be prepared for further shaking.\n"
        "This is a computer-generated report based on preliminary data. Magnitude and location "
        "may be revised as more information becomes available and as seismologists review the "
        "records. If you felt this earthquake, you can report what you experienced on the "
        "agency's website to help scientists map the intensity of the shaking."
    )
    return Bulletin(f"Magnitude {magnitude} earthquake near {place}, {region}", text)


def market_close(rng: random.Random) -> Bulletin:
    index, city, unit = rng.choice(
        [
            ("DAX", "Frankfurt", "points"),
            ("FTSE 100", "London", "points"),
            ("CAC 40", "Paris", "points"),
            ("Nikkei 225", "Tokyo", "points"),
            ("Euro Stoxx 50", "Frankfurt", "points"),
        ]
    )
    stocks = rng.sample(
        ["Siemens", "Bayer", "Airbus", "Unilever", "Sony", "Toyota", "BASF", "Shell", "Danone"], 2
    )
    direction = rng.choice(["up", "down"])
    level = f"{rng.randrange(6000, 40000):,}.{rng.randrange(100):02d}"
    text = (
        f"The {index} closed {direction} {_pct(rng)} per cent at {level} {unit} on "
        f"{rng.choice(DAYS)}, as investors weighed fresh data on inflation and the outlook "
        f"for interest rates.\n"
        f"{stocks[0]} led the gainers, rising {_pct(rng, 1, 8)} per cent, while {stocks[1]} "
        f"was the weakest stock in the index, falling {_pct(rng, 1, 8)} per cent after an "
        f"analyst downgrade.\n"
        f"Trading volume in {city} was {rng.randrange(40, 900)} million shares, "
        f"{rng.choice(['above', 'below'])} the 30-day average. The euro was at "
        f"{rng.uniform(1.02, 1.19):.4f} dollars at the close of trading.\n"
        "Market data are provided for information only and may be delayed. Index levels are "
        "taken at the official close of the exchange; figures for individual shares are "
        "rounded and refer to the main listing. Past performance is not a reliable indicator "
        "of future results, and nothing in this report is a recommendation to buy or sell."
    )
    return Bulletin(f"{index} closes {direction} at {level}", text)


def sports_result(rng: random.Random) -> Bulletin:
    home, away = rng.sample(
        [
            "Arsenal",
            "Chelsea",
            "Everton",
            "Brentford",
            "Fulham",
            "Burnley",
            "Wolves",
            "Brighton",
            "Leeds United",
            "Aston Villa",
        ],
        2,
    )
    scorers = rng.sample(
        ["Marcus Bell", "Jonas Ek", "Ade Okafor", "Luis Prado", "Tom Hale", "Kai Brandt"], 2
    )
    goals = (rng.randrange(1, 5), rng.randrange(0, 3))
    text = (
        f"{home} beat {away} {goals[0]}-{goals[1]} in the Premier League on "
        f"{rng.choice(DAYS)}, with {scorers[0]} scoring in the {rng.randrange(2, 45)}th minute "
        f"and again after {rng.randrange(46, 90)} minutes.\n"
        f"{away} pulled one back through {scorers[1]} but could not find an equaliser in "
        f"front of a crowd of {rng.randrange(18, 62)},{rng.randrange(100, 999)}.\n"
        f"The result leaves {home} {rng.randrange(1, 20)}th in the table on "
        f"{rng.randrange(5, 70)} points after {rng.randrange(10, 38)} matches, while {away} "
        f"stay on {rng.randrange(5, 70)} points.\n"
        "Full match statistics, including possession, shots on target and the line-ups of both "
        "teams, are available on the league's website shortly after the final whistle. Results "
        "are provisional until confirmed by the league, and kick-off times for the next round "
        "may change to suit broadcasters."
    )
    return Bulletin(f"{home} {goals[0]}-{goals[1]} {away}", text)


def weather_warning(rng: random.Random) -> Bulletin:
    hazard, detail = rng.choice(
        [
            ("wind", "Gusts of {a} to {b} mph are possible on coasts and hills"),
            ("rain", "Between {a} and {b} millimetres of rain could fall on high ground"),
            ("snow", "Up to {a} centimetres of snow may settle above {b} metres"),
            ("ice", "Temperatures may fall to minus {a} degrees, with ice on untreated roads"),
        ]
    )
    region = rng.choice(
        [
            "Cornwall and Devon",
            "South Wales",
            "the Scottish Highlands",
            "Cumbria",
            "Northern Ireland",
            "Yorkshire",
            "Kent and Sussex",
        ]
    )
    colour = rng.choice(["yellow", "amber"])
    start, end = rng.sample(DAYS, 2)
    a = rng.randrange(2, 60)
    text = (
        f"The Met Office has issued a {colour} warning for {hazard} covering {region} from "
        f"{_time(rng)} on {start} until {_time(rng)} on {end}.\n"
        f"{detail.format(a=a, b=a + rng.randrange(5, 400))}, and travel disruption is likely. "
        f"Some roads and bridges may close, and there is a small chance of power cuts "
        f"affecting up to {rng.randrange(2, 90)},000 homes.\n"
        f"The Environment Agency has {rng.randrange(0, 40)} flood alerts in place. People "
        f"are advised to check the forecast before they travel and to follow the advice of "
        f"the emergency services.\n"
        "What to expect: delays to road, rail, air and ferry transport are likely, and some "
        "journeys may take longer. Falling branches and flying debris could cause injuries. "
        "Warnings are updated as the forecast changes, so check the latest warnings and the "
        "forecast for your area before you set out."
    )
    return Bulletin(f"{colour.capitalize()} {hazard} warning for {region}", text)


def company_results(rng: random.Random) -> Bulletin:
    company, ceo, city = rng.choice(
        [
            ("Nordhafen Logistik", "Petra Lindqvist", "Frankfurt"),
            ("Castellan Foods", "Marco Ruiz", "Madrid"),
            ("Baltic Paper", "Juha Korpela", "Helsinki"),
            ("Albion Retail", "Sarah Whitcombe", "London"),
            ("Kessler Automotive", "Dieter Kessler", "Stuttgart"),
            ("Lumen Telecom", "Aline Dufour", "Paris"),
        ]
    )
    quarter = rng.choice(["first-quarter", "second-quarter", "third-quarter", "fourth-quarter"])
    change = rng.choice(["up", "down"])
    text = (
        f"{company} reported {quarter} net profit of {rng.randrange(12, 980)} million euros on "
        f"{rng.choice(DAYS)}, {change} {rng.randrange(1, 45)} per cent from a year earlier, on "
        f"revenue of {rng.uniform(0.4, 9.9):.2f} billion euros.\n"
        f"Analysts polled by the company had expected a profit of {rng.randrange(12, 980)} "
        f"million euros. The operating margin was {_pct(rng, 2, 19)} per cent, against "
        f"{_pct(rng, 2, 19)} per cent a year ago.\n"
        f"Chief executive {ceo} said the group would keep its outlook for the full year and "
        f"proposed a dividend of {rng.uniform(0.1, 3.5):.2f} euros a share. The shares rose "
        f"{_pct(rng, 0.2, 9)} per cent in early trading in {city}.\n"
        "This announcement contains forward-looking statements that are based on current "
        "expectations and assumptions of management and are subject to risks and "
        "uncertainties. Actual results may differ materially, and the company undertakes no "
        "obligation to update any forward-looking statement."
    )
    return Bulletin(f"{company} {quarter} profit {change}", text)


def election_result(rng: random.Random) -> Bulletin:
    district = rng.choice(
        [
            "Ashford North",
            "Bramley",
            "Carrow Vale",
            "Dunmere",
            "Eastwick",
            "Fenbridge",
            "Glenholm",
            "Harlow Cross",
        ]
    )
    parties = rng.sample(["Labour", "Conservative", "Liberal Democrat", "Green", "Reform"], 2)
    names = rng.sample(
        ["Helen Marsh", "Owen Pryce", "Ruth Adeyemi", "Calum Reid", "Nadia Sharif", "Ben Toller"],
        2,
    )
    votes = sorted((rng.randrange(4000, 30000), rng.randrange(3000, 25000)), reverse=True)
    text = (
        f"{parties[0]} candidate {names[0]} won the {district} constituency with "
        f"{votes[0]:,} votes ({rng.uniform(30, 60):.1f}%), ahead of {names[1]} of the "
        f"{parties[1]} party with {votes[1]:,} votes ({rng.uniform(15, 35):.1f}%).\n"
        f"Turnout was {rng.uniform(45, 78):.1f}%, {rng.choice(['up', 'down'])} "
        f"{_pct(rng, 0.2, 9)} points on the last election. The majority is {votes[0] - votes[1]:,}"
        f" votes.\n"
        f"The returning officer declared the result at {_time(rng)}. {rng.randrange(40, 600)} "
        f"ballot papers were rejected, and a recount requested by the {parties[1]} party was "
        f"{rng.choice(['granted', 'refused'])}.\n"
        "Results are declared by the returning officer for each constituency and are final "
        "once the declaration has been made. Full figures for every candidate, including the "
        "number of spoilt ballots and postal votes, will be published by the electoral office "
        "in the coming days."
    )
    return Bulletin(f"{district}: {parties[0]} win", text)


def exchange_rates(rng: random.Random) -> Bulletin:
    day = rng.choice(DAYS)
    text = (
        f"The euro was trading at {rng.uniform(1.02, 1.19):.4f} dollars on {day} morning, "
        f"{rng.choice(['up', 'down'])} from {rng.uniform(1.02, 1.19):.4f} late on the previous "
        f"day in New York.\n"
        f"The European Central Bank set its reference rate at {rng.uniform(1.02, 1.19):.4f} "
        f"dollars on the previous trading day. Against the yen the euro fetched "
        f"{rng.uniform(150, 175):.2f} yen, and against the Swiss franc "
        f"{rng.uniform(0.91, 0.99):.4f} francs.\n"
        f"Sterling traded at {rng.uniform(1.20, 1.35):.4f} dollars and "
        f"{rng.uniform(0.83, 0.89):.4f} pounds bought one euro. The price of gold was "
        f"{rng.randrange(1900, 2700):,} dollars an ounce, {_pct(rng)} per cent "
        f"{rng.choice(['higher', 'lower'])}.\n"
        "The reference rates are published for information purposes only. Using them for "
        "transaction purposes is strongly discouraged. They are based on a regular daily "
        "concertation procedure between central banks across Europe, which normally takes "
        "place at 2.15 p.m. Central European Time."
    )
    return Bulletin(f"Euro at {day} morning", text)


def transit_notice(rng: random.Random) -> Bulletin:
    line, stops = rng.choice(
        [
            ("Line 4", ["Central", "Harbour Street", "Millbrook", "Oakfield", "Riverside"]),
            ("The Northern Line", ["Camden Town", "Archway", "Highgate", "East Finchley"]),
            ("Tram 12", ["Market Square", "Stadium", "Westgate", "University", "Park Lane"]),
            ("The S3 line", ["Hauptbahnhof", "Ostkreuz", "Erkner", "Friedrichshagen"]),
        ]
    )
    first, second = rng.sample(stops, 2)
    reason = rng.choice(
        ["track renewal", "signal upgrades", "bridge repairs", "overhead line works"]
    )
    day = rng.choice(DAYS)
    text = (
        f"{line} services between {first} and {second} will be suspended from {_time(rng)} "
        f"on {day} {rng.randrange(1, 29)} {rng.choice(MONTHS)} until {_time(rng)} because of "
        f"{reason}.\n"
        f"Replacement buses will run every {rng.randrange(5, 20)} minutes from stops outside "
        f"each station and are expected to add about {rng.randrange(10, 45)} minutes to "
        f"journeys. Tickets will be accepted on route {rng.randrange(10, 300)} buses.\n"
        f"Passengers with reduced mobility can book assistance on 0800 {rng.randrange(100, 999)}"
        f" {rng.randrange(1000, 9999)}. Check before you travel, as the works may be extended "
        f"at short notice.\n"
        "We are sorry for the disruption these works will cause. The improvements will make "
        "journeys more reliable for everyone who uses the line. Live service information is "
        "available on our website and app, and staff will be on hand at the busiest stations "
        "to help you plan an alternative journey."
    )
    return Bulletin(f"{line}: {first} to {second} closed on {day}", text)


FAMILIES: dict[str, Callable[[random.Random], Bulletin]] = {
    "earthquake": earthquake,
    "market close": market_close,
    "sports result": sports_result,
    "weather warning": weather_warning,
    "company results": company_results,
    "election result": election_result,
    "exchange rates": exchange_rates,
    "transit notice": transit_notice,
}


def bulletin_families(rng: random.Random, per_family: int = 20) -> dict[str, list[Bulletin]]:
    """`per_family` distinct bulletins of every family (no two with the same text)."""
    families: dict[str, list[Bulletin]] = {}
    for name, make in FAMILIES.items():
        made: dict[str, Bulletin] = {}
        while len(made) < per_family:
            bulletin = make(rng)
            made.setdefault(bulletin.text, bulletin)
        families[name] = list(made.values())
    return families


AGENCIES = ("Northwire", "Meridian Press", "Harbor Wire", "Lakeside News Service")
STAFF = ("Maren Holt", "Tobias Achterberg", "Ines Valcourt", "Kwame Osei", "Lucia Ferrand")


def wire_copies(bulletin: Bulletin, rng: random.Random) -> list[tuple[str, Bulletin]]:
    """The bulletin as other outlets run it: with a credit line, a new headline, a byline, or
    without its last paragraph. Each is the same story."""
    a, b = rng.sample(STAFF, 2)
    new_title = f"Latest: {bulletin.title.lower()}"
    paragraphs = bulletin.text.split("\n")
    return [
        (
            "credit line",
            Bulletin(bulletin.title, f"{bulletin.text}\nReporting by {a}; Editing by {b}"),
        ),
        ("new headline", Bulletin(new_title, f"{new_title}\n{bulletin.text}")),
        ("byline", Bulletin(bulletin.title, f"By {a}, {rng.choice(AGENCIES)}\n{bulletin.text}")),
        ("last paragraph cut", Bulletin(bulletin.title, "\n".join(paragraphs[:-1]))),
    ]


_FIRST_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
OTHER_PLACES = ("Kestrel", "Marlow", "Dunford", "Ashby", "Corrin", "Lyndhurst")


def near_twins(bulletin: Bulletin, rng: random.Random) -> list[tuple[str, Bulletin]]:
    """The bulletin's neighbours that are other stories with almost every fact the same: one
    figure changed (the next reading, another score), the next day's weekday (the same closure
    a week later), another place (the same warning for the next region). Where a bulletin has
    no such fact, that twin is left out."""
    twins = []
    number = _FIRST_NUMBER.search(bulletin.text)
    if number:
        old = number.group()
        new = old[:-1] + str((int(old[-1]) + rng.randrange(1, 9)) % 10)
        text = bulletin.text[: number.start()] + new + bulletin.text[number.end() :]
        twins.append(("other figure", Bulletin(bulletin.title.replace(old, new, 1), text)))
    day = next((d for d in DAYS if re.search(rf"\b{d}\b", bulletin.text)), None)
    if day:
        other = DAYS[(DAYS.index(day) + rng.randrange(1, 7)) % 7]
        swapped = Bulletin(bulletin.title.replace(day, other), bulletin.text.replace(day, other))
        twins.append(("other day", swapped))
    words = re.findall(r"[A-Z][a-z]+", bulletin.title)[1:]
    place = next(
        (w for w in words if w not in DAYS and re.search(rf"\b{w}\b", bulletin.text)), None
    )
    if place:
        other = rng.choice(OTHER_PLACES)
        swapped = Bulletin(
            bulletin.title.replace(place, other), bulletin.text.replace(place, other)
        )
        twins.append(("other place", swapped))
    return twins
