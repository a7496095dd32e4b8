"""Model text -> typed :class:`ParsedResponse`. Never raises on model output."""

from regionreasoner.parsing.answer import (
    OfficialAnswer,
    parse_answer_official,
    parse_answer_regions,
)
from regionreasoner.parsing.references import (
    CitedBox,
    find_cited_boxes,
    format_reference,
)
from regionreasoner.parsing.response import ParsedResponse, ParseIssue, parse_response
from regionreasoner.parsing.tags import TAGS, extract_tag, tags_in_order
