"""Districts the region's families live in, and straight-line travel distance.

Events carry only a family's home *district* (never an address), so travel is
measured from the district's centroid to the hospital. Great-circle distance
understates road distance; the constraint is a family's own "at most N km", and a
centroid-to-hospital figure is the honest best we can do without personal data.
"""

from __future__ import annotations

import math

# Approximate centroids (lat, lon) of Beijing's districts, the demo region.
DISTRICT_CENTROIDS: dict[str, tuple[float, float]] = {
    "dongcheng": (39.928, 116.416),
    "xicheng": (39.912, 116.366),
    "chaoyang": (39.958, 116.521),
    "haidian": (39.990, 116.298),
    "fengtai": (39.858, 116.287),
    "shijingshan": (39.906, 116.223),
    "mentougou": (39.940, 116.102),
    "fangshan": (39.736, 116.143),
    "tongzhou": (39.910, 116.657),
    "shunyi": (40.130, 116.654),
    "changping": (40.221, 116.231),
    "daxing": (39.727, 116.341),
    "huairou": (40.316, 116.632),
    "pinggu": (40.141, 117.121),
    "miyun": (40.377, 116.843),
    "yanqing": (40.457, 115.985),
}

EARTH_RADIUS_KM = 6371.0


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lon1 = map(math.radians, a)
    lat2, lon2 = map(math.radians, b)
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(h))


def travel_km(home_district: str | None, hospital_location: tuple[float, float]) -> float | None:
    """Kilometres from a district's centroid to a hospital; None when the district is unknown."""
    if not home_district:
        return None
    centroid = DISTRICT_CENTROIDS.get(home_district.lower())
    return None if centroid is None else round(haversine_km(centroid, hospital_location), 1)
