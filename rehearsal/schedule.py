"""When fans arrive: an open schedule around the sale's opening, not a fixed crowd.

Most fans are there before the button turns on (they wait on the page, then all click
at once); the rest arrive after it, fewer and fewer as word spreads that it sold out.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass

DECAY = 3.0
"""How front-loaded the arrivals after opening are (e^-3 ≈ 5 % still arriving at the end)."""


@dataclass(frozen=True)
class ArrivalSchedule:
    opens_at: float
    """The sale's opening, epoch seconds."""
    before_s: float
    after_s: float
    fans: int
    share_before: float = 0.6

    def arrived_by(self, moment: float) -> int:
        """How many fans have arrived by `moment` (epoch seconds)."""
        early = self.share_before * self.fans
        start = self.opens_at - self.before_s
        if moment <= start:
            return 0
        if moment < self.opens_at:
            return math.floor(early * (moment - start) / self.before_s) if self.before_s else 0
        if moment >= self.opens_at + self.after_s:
            return self.fans
        progress = (1 - math.exp(-DECAY * (moment - self.opens_at) / self.after_s)) / (
            1 - math.exp(-DECAY)
        )
        return min(self.fans, math.floor(early + (self.fans - early) * progress))

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str, fans: int | None = None) -> ArrivalSchedule:
        fields = json.loads(text)
        if fans is not None:
            fields["fans"] = fans
        return cls(**fields)
