"""Lines that are page furniture wherever they appear: calls to share, follow or subscribe,
"Related:" and "Read more:" links, comment counters, tag labels.

trafilatura keeps such lines when the site puts them inside the article element. They are
dropped here by what they say, never by which site says it: a watched term in "Read more:
S-400 deliveries resume" is a headline of another story, and alerting on it is a false alert.
Only short lines are candidates, so a paragraph that happens to start with "Related" stays.
"""

from __future__ import annotations

import re

#: A line longer than this is never treated as furniture.
MAX_LINE = 200

# A whole line that is one of these labels, alone.
_LABEL = re.compile(
    r"(?:comments?|\d+\s+comments?|tags|topics|share(?: this)?(?: article| story)?|advertisement"
    r"|don'?t miss|you may also like|you might also like|recommended(?: for you)?|most read"
    r"(?: in [\w ]+)?|related(?: articles| stories| posts)?|more(?: on this)?|also|see also"
    r"|read more|trending|popular)\s*[.:…]*",
    re.I,
)
# A line that starts with a pointer to another story or with a call to act.
_LEAD = re.compile(
    r"(?:\[?\s*(?:related(?: post| article| story)?|read more|read also|see more|see also|more"
    r"|also|watch|listen|recommended|most read|top stories)\s*:"
    r"|also on [\w-]+\.[\w.-]+\s|filed under\s*:|tags\s*:|like this (?:story|article)\?"
    r"|click to tweet"
    r"|(?:subscribe|sign up)\b.{0,60}\bnewsletters?\b"
    r"|follow (?:us|[\w’' .@()]{1,60}) on (?:facebook|twitter|instagram|x|linkedin|youtube)\b)",
    re.I,
)
_CLICK_TO_TWEET = re.compile(r"\s*click to tweet\s*$", re.I)


def is_furniture(line: str) -> bool:
    """Whether ``line`` (one stripped line of article text) is page furniture."""
    if not line or len(line) > MAX_LINE:
        return False
    return bool(_LABEL.fullmatch(line) or _LEAD.match(line))


def drop_furniture(text: str) -> str:
    """``text`` without its furniture lines; a "Tags" label takes its tag list with it."""
    kept: list[str] = []
    lines = text.split("\n")
    skip_next = False
    for line in lines:
        if skip_next:
            skip_next = False
            if "," in line and len(line) <= MAX_LINE * 2:
                continue
        if is_furniture(line):
            skip_next = line.strip(" :").casefold() in {"tags", "topics"}
            continue
        kept.append(_CLICK_TO_TWEET.sub("", line))
    return "\n".join(kept)
