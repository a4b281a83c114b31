"""Threats of violence, doxxing and incitement to self-harm, recognised by their shape: who
acts (I, we, someone), what is done (kill, stab, find), to whom (you, your family, the
streamer). "I'm going to kill this boss" has no person as target; "I'll find you a better
build" is a favour, not a hunt.

Patterns are written in plain English and matched against the message's folded, squeezed
words (`normalize`): the same folding is applied to the patterns (l reads as i, repeated
letters squeeze), so "k1lll y0urself" and "i wil find u" match as typed. Each pattern names
trigger words; a message without any of them (nearly all chat) costs one set lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from livefold.moderation.lexicon import TARGETS
from livefold.moderation.normalize import Text, fold, squeeze
from livefold.moderation.rules import spacing_variants

_YOU_THINGS = (
    "family|kids?|mom|mum|dad|wife|husband|girlfriend|boyfriend|dog|cat|sister|brother|son|"
    "daughter|house|home|face|throat|neck|head|legs|arms|skull|teeth|children|parents"
)
YOU = (
    rf"(?:you|u|ya|yall|you all|(?:ur|your|yo) (?:\w+ )?(?:{_YOU_THINGS})|the streamer|"
    r"this streamer|streamer|this (?:guy|dude|clown|kid|idiot|bitch|loser|streamer|moron))"
)
PERSON = rf"(?:{YOU}|him|her|his (?:{_YOU_THINGS})|her (?:{_YOU_THINGS})|that guy)"
SUBJECT = (
    r"(?:i|we|imma|ima|gonna|gunna|going to|will|wanna|want to|finna|someone|somebody|"
    r"let s|should|need to|needs to|gon)"
)
# What makes it a game, a favour or a story: "find you a duo", "kill you in ranked", "smack
# you with the ult", "die to the boss", "come for you next round".
_IN_GAME = (
    r"(?: \w+)? (?:in|on|at) (?:the |this |a |that )?(?:\w+ )?(?:game|ranked|lobby|match|round|"
    r"map|zone|story|queue|pvp|raid|dungeon|chess|cutscene|arena|tournament|finals?)\b"
)
_NOT_A_THREAT_AFTER = (
    rf"(?! a\b| an\b| some\b| the\b| one\b| it\b|{_IN_GAME}"
    r"| next (?:game|round|match|time)| with (?:the |my |a |an |this |some )?(?:\w+ )?(?:ult|"
    r"ultimate|combo|spell|ability|skill|move|build|deck|team|kindness|facts|logic|love)"
    r"| to (?:the|a|this|that) (?:\w+ )?(?:boss|mob|enemy|enemies|monster|dragon|trap|lava)"
    r"| less| again| already to| of (?:cringe|laughter|laughing|boredom|embarrassment))"
)
_STRONG = (
    r"murder|stab|rape|strangle|choke|behead|torture|kidnap|slit|lynch|shank|hunt down|"
    r"dox|doxx|swat|hurt|punch|break|burn|smash|bash|drown|poison|run over|beat up|"
    r"beat the shit out of|beat the crap out of|come for|coming for|hunt|stalk|shoot|kill"
)
_SELF = r"(?:(?:your|ur|yo|you|ya) ?self|yourselves|urselves)"
_HARM = (
    r"die|dies|dying|dead|death|cancer|aids|shot|shoots|kills|stabs|hurts|rapes|killed|"
    r"murdered|stabbed|raped|run over|burn|"
    r"burns|burned|rot|rots|crash|crashes|overdose|suffer|suffers|drown|drowns|hanged|lynched|"
    r"hit by a (?:car|bus|truck|train)"
)


@dataclass(frozen=True)
class _Pattern:
    triggers: frozenset[str]
    regex: re.Pattern[str]
    weight: float
    needs_target: bool


def _folded(english: str) -> str:
    """The pattern as folded text reads: l as i, repeated letters squeezed."""
    return re.sub(r"(?<!\\)([a-z])\1+", r"\1", english.replace("l", "i"))


def _pattern(triggers: str, english: str, weight: float, needs_target: bool = False) -> _Pattern:
    words = frozenset(squeeze(fold(triggers)))
    return _Pattern(words, re.compile(_folded(english)), weight, needs_target)


PATTERNS = (
    # someone will do violence to a person
    _pattern(
        "murder stab rape strangle choke behead torture kidnap slit lynch shank hunt dox doxx "
        "swat hurt punch break burn smash bash drown poison run beat come coming stalk shoot",
        rf"\b{SUBJECT}\b(?: \w+){{0,3}}? (?:{_STRONG})\b(?: \w+){{0,2}}? {PERSON}\b"
        + _NOT_A_THREAT_AFTER,
        0.9,
    ),
    _pattern(
        "kill shoot end slap smack cut find track",
        rf"\b{SUBJECT}\b(?: \w+){{0,3}}? (?:kill|shoot|end|slap|smack|cut|find|track down) "
        rf"{YOU}\b{_NOT_A_THREAT_AFTER}",
        0.9,
    ),
    _pattern(
        "beat",
        rf"\bbeat {PERSON} (?:up|senseless|to death|half to death|black and blue)\b"
        + _NOT_A_THREAT_AFTER,
        0.9,
    ),
    _pattern("disappear", rf"\bmake {PERSON} (?:disappear|vanish|suffer|bleed|pay)\b", 0.85),
    _pattern("coming", r"\b(?:won t|wont|will not|never) see it coming\b", 0.8, True),
    _pattern("numbered", r"\bdays are numbered\b", 0.8, needs_target=True),
    _pattern("hands", r"\bcatch (?:these|the|my) hands\b", 0.65),
    _pattern(
        "regret",
        r"\b(?:you|u)(?: ll| will| re gonna| are going to| re going to| gonna)? regret (?:this|"
        r"that|it|banning|saying)\b",
        0.6,
    ),
    # wishing harm on a person
    _pattern(
        "hope hopefully wish pray praying",
        rf"\b(?:hope|hopefully|wish|pray|praying)\b(?: \w+){{0,5}}? (?:{_HARM})\b",
        0.9,
        needs_target=True,
    ),
    _pattern(
        "deserve deserves should need needs ought must",
        r"\b(?:you|u|ur|he|she|they|streamer|guy|dude|him|her)\b(?: \w+){0,3}? "
        r"(?:deserves?|should|needs? to|ought to|must)\b(?: \w+){0,2}? (?:die|be (?:shot|"
        r"killed|beaten|raped|hanged|hung|stabbed|murdered|executed|lynched)|get (?:shot|killed"
        r"|beaten|raped|stabbed|hit|cancer|murdered)|rot|burn|suffer|hang|drown)\b"
        + _NOT_A_THREAT_AFTER,
        0.9,
    ),
    _pattern(
        "bullet gun knife bat rifle pistol shotgun glock bomb machete",
        r"\b(?:put|putting|bring|bringing|brought|take|taking) (?:a|my|the) (?:bullet|gun|knife|"
        r"bat|rifle|pistol|shotgun|glock|bomb|machete)s? (?:in|through|to|into) "
        r"(?:you|u|your|ur|his|her|him|this \w+|that \w+)\b",
        0.9,
    ),
    # knowing where someone lives, turning up there
    _pattern(
        "know found have got find figure",
        r"\bi\b(?: \w+){0,3}? (?:know|found|have|got|knw|find out|found out|figure out)\b"
        r"(?: \w+){0,2}? "
        r"(?:where (?:you|u|ur|he|she|they|ya)"
        r" (?:live|lives|living|sleep|work|stay)|(?:your|ur|his|her) (?:\w+ )?(?:address|addy|"
        r"real name|(?:mom|mum|dad|wife|kid|sister|brother) s name|ip|house|street|school|"
        r"workplace|location|phone number|family|kids?))\b",
        0.9,
    ),
    _pattern(
        "address addy",
        r"\b(?:your|ur|his|her) (?:home )?(?:address|addy) (?:is|has|now|leaked|got|was)\b",
        0.85,
    ),
    _pattern("street", r"\bstreet ?view\b", 0.7, needs_target=True),
    _pattern(
        "outside door house home apartment place work school",
        r"\b(?:waiting|wait|show up|showing up|come|coming|be there|be|knock|knocking|see you|"
        r"visit|go|going|drive|head|send(?: \w+){1,2}?) (?:to |at |outside |by )?"
        r"(?:outside |at |to )?"
        r"(?:your|ur|his|her|their) (?:house|home|apartment|door|place|work|job|school|window|"
        r"address|next meetup)\b",
        0.85,
    ),
    _pattern(
        "outside through near window building car street backyard",
        r"\b(?:i|we|im|saw|seen|watching)\b(?: \w+){0,4}? (?:outside|through|near) (?:your|ur) "
        r"(?:house|home|apartment|building|door|place|"
        r"work|job|school|window|street|car|front door|backyard)\b" + _NOT_A_THREAT_AFTER,
        0.8,
    ),
    _pattern(
        "safe",
        r"\b(?:your|ur) (?:kids?|family|children|wife|mom|mum|dad|sister|brother|dog|cat|house) "
        r"(?:aren t|are not|isn t|is not|won t be|will not be|ain t) safe\b",
        0.85,
    ),
    _pattern(
        "bleed suffer die burn",
        r"\b(?:love to|want to|wanna|gonna|going to|can t wait to|cant wait to|will) (?:see|watch) "
        r"(?:you|u|him|her) (?:bleed|suffer|die|burn|cry|beg)\b",
        0.85,
    ),
    _pattern(
        "hurt killed shot stabbed beaten coming",
        r"\b(?:you|u)(?: re| are| ll| will| r)?(?: going to| gonna)? get (?:hurt|killed|shot|"
        r"stabbed|beaten|jumped|what s coming)\b(?! by (?:the|that|a|this|fall))"
        + _NOT_A_THREAT_AFTER,
        0.8,
    ),
    _pattern(
        "ground grave bag feet",
        r"\bput (?:you|u|him|her) (?:in the ground|in a grave|in a body bag|six feet under)\b",
        0.9,
    ),
    _pattern(
        "kid kids son daughter children",
        r"\b(?:your|ur) (?:kids?|son|daughter|children) (?:goes|go|attends|school|lives)\b",
        0.85,
    ),
    _pattern(
        "visit", r"\bpay (?:you|u|him|her|them|this \w+|that \w+) a (?:little )?visit\b", 0.85
    ),
    _pattern("watch back", r"\bwatch (?:your|ur|yo) back\b" + _NOT_A_THREAT_AFTER, 0.75),
    _pattern("run", r"\brun while (?:you|u) can\b", 0.75),
    _pattern("eye", r"\bsleep with one eye open\b", 0.75),
    _pattern("happens", r"\bsee what happens\b", 0.7, needs_target=True),
    _pattern("done", r"\b(?:when|after|once) (?:i|we) (?:m|am|re|are) done with (?:you|u)\b", 0.8),
    _pattern(
        "dead meat",
        r"\b(?:you re|you are|ur|your|u r|youre) (?:so |already )?dead (?:meat|when|if|once|"
        r"after)\b",
        0.85,
    ),
    # incitement to self-harm
    _pattern(
        "kill hang cut end off neck unalive shoot stab hurt burn drown rope",
        rf"\b(?:kill|hang|cut|end|off|neck|unalive|shoot|stab|hurt|burn|drown|rope) {_SELF}\b",
        0.97,
    ),
    _pattern("die", r"\b(?:go|just|pls|please|plz) (?:die|d1e)\b" + _NOT_A_THREAT_AFTER, 0.9),
    _pattern(
        "die",
        r"\b(?:you|u|he|she|they|streamer)\b(?: \w+){0,2}? (?:should|gonna|going to|will|need to|"
        r"needs to|deserve to|deserves to|ought to) (?:die|d1e)\b" + _NOT_A_THREAT_AFTER,
        0.9,
    ),
    _pattern("life", r"\b(?:end|take)(?: \w+){0,4}? (?:your|ur) (?:own )?life\b", 0.95),
    _pattern("life", r"\bgive up on (?:life|living)\b", 0.85),
    _pattern(
        "exist live breathe",
        r"\b(?:should not|shouldn t|don t deserve to|do not deserve to) (?:exist|live|breathe)\b"
        + _NOT_A_THREAT_AFTER,
        0.85,
        needs_target=True,
    ),
    _pattern(
        "pills overdose",
        r"\b(?:bunch of|all (?:your|the|ur)) pills\b|\boverdose\b",
        0.8,
        needs_target=False,
    ),
    _pattern(
        "favor favour",
        r"\bdo (?:us|us all|everyone|the world|all of us|everybody|chat) a favou?r and (?:die|end|"
        r"kill|off|"
        r"jump|hang|unalive|disappear forever|delete yourself)\b",
        0.95,
    ),
    _pattern(
        "jump",
        r"\bjump (?:off|from) (?:a|the) (?:bridge|building|cliff|roof|skyscraper|balcony)\b",
        0.9,
    ),
    _pattern("jump", r"\bjump in front of (?:a|the) (?:train|bus|car|truck)\b", 0.9),
    _pattern("bleach", r"\bdrink (?:some )?bleach\b", 0.95),
    _pattern("wrists", r"\b(?:slit|cut|open) (?:your|ur|yo) (?:wrists?|veins)\b", 0.95),
    _pattern("rope noose", r"\b(?:the |a )?(?:rope|noose) is (?:calling|waiting)\b", 0.9),
    _pattern("rope noose", r"\b(?:get|grab|buy|find) (?:a|the|some) (?:rope|noose)\b", 0.85),
    _pattern(
        "care notice miss",
        r"\b(?:care|notice|miss|cry) if (?:you|u) (?:died|were dead|disappeared|killed|vanished|"
        r"were gone|was gone|weren t here|weren t around)",
        0.9,
    ),
    _pattern("alive exist", r"\bwhy (?:are|r) (?:you|u) (?:still )?alive\b", 0.9),
    _pattern("exist", r"\bwhy do (?:you|u) (?:even |still )?exist\b", 0.8),
    _pattern(
        "miss",
        r"\b(?:nobody|no one|noone|no1) (?:would|will|is going to|gonna) miss (?:you|u)\b",
        0.9,
    ),
    _pattern(
        "better",
        r"\bbetter (?:off )?(?:without (?:you|u)|if (?:you|u) (?:weren t|were not|were dead|"
        r"died|didn t exist|wasn t|was dead|were gone))\b",
        0.9,
    ),
    _pattern("end", r"\b(?:just|go|pls|please) end it\b", 0.85),
    _pattern("end", r"\bend it all\b", 0.8, needs_target=True),
    _pattern("commit", r"\bcommit (?:die|suicide|sewer slide|toaster bath|neck rope)\b", 0.95),
    _pattern("traffic", r"\b(?:go )?play in (?:the )?traffic\b", 0.9),
)
_GROUPS = (
    r"(?:jews|blacks|muslims|gays|gay people|trans people|trannies|immigrants|mexicans|women|"
    r"girls|arabs|asians|indians|chinese|africans|refugees|lesbians|queers)"
)
HATE_PATTERNS = (
    _pattern(
        "jews blacks muslims gays gay trans trannies immigrants mexicans women girls arabs asians "
        "indians chinese africans refugees lesbians queers",
        rf"\b(?:all )?{_GROUPS} (?:are|r|is) (?:all )?(?:\w+ )?(?:animals|vermin|subhuman|"
        r"parasites|rats|cockroaches|disgusting|a disease|inferior|trash|garbage|scum|filth|"
        r"mentally ill|not human|the problem)\b",
        0.9,
    ),
    _pattern(
        "kill gas deport death",
        rf"\b(?:kill|gas|deport|exterminate|death to) (?:all )?(?:the )?{_GROUPS}\b",
        0.97,
    ),
    _pattern(
        "belong", r"\b(?:women|girls) belong (?:in the kitchen|in the kitchen|at home)\b", 0.7
    ),
)
_TARGETS = frozenset(squeeze(fold(TARGETS)))
_NEGATIONS = frozenset(squeeze(fold("not never dont don wont won wouldnt wouldn no")))
_NEGATED = 0.3


class ThreatPatterns:
    """The `Classifier` of a category's patterns (threats by default, or `HATE_PATTERNS`)."""

    def __init__(self, patterns: tuple[_Pattern, ...] = PATTERNS):
        self.patterns = patterns
        self.triggers = frozenset().union(*(pattern.triggers for pattern in patterns))

    def score(self, text: Text) -> float:
        if self.triggers.isdisjoint(text.squeezed) and not text.spaced:
            return 0.0  # no trigger word, and no spaced-out letters that could spell one
        best = 0.0
        for tokens in spacing_variants(text):
            squeezed = text.squeezed if tokens is text.tokens else squeeze(tokens)
            best = max(best, self._score(text, squeezed))
        return best

    def _score(self, text: Text, words: tuple[str, ...]) -> float:
        present = frozenset(words)
        best = 0.0
        reading = ""
        for pattern in self.patterns:
            if pattern.triggers.isdisjoint(present) or pattern.weight <= best:
                continue
            if pattern.needs_target and text.mentions == 0 and _TARGETS.isdisjoint(present):
                continue
            reading = reading or " ".join(words)
            match = pattern.regex.search(reading)
            if match is None:
                continue
            before = reading[: match.start()].split()[-3:]
            weight = (
                pattern.weight * _NEGATED if _NEGATIONS.intersection(before) else pattern.weight
            )
            best = max(best, weight)
        return best
