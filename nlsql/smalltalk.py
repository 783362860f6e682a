"""Greetings, thanks and "what can you do?": answered in words, without writing SQL.

People greet a chat bot and thank it. Sent to the model, "thanks!" in a thread became a
follow-up query and got an answer about some other table, and "hello" became SQL on a
system table that the guard refused with a puzzling message. Only a message made
*entirely* of such words is taken as small talk ("hi, how many tools are there?" is still
a question), so a question about the data is never lost here.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from enum import Enum

from .answerer import detect_language


class SmallTalk(Enum):
    INTRO = "intro"  # hello, help, who are you: say what the bot does
    THANKS = "thanks"
    BYE = "bye"
    ACK = "ack"  # ok, great, got it


_PHRASES: dict[SmallTalk, tuple[str, ...]] = {
    SmallTalk.INTRO: (
        "hi", "hello", "hey", "hiya", "howdy", "yo", "greetings", "good morning",
        "good afternoon", "good evening", "morning", "hi there", "hello there", "hey there",
        "help", "help me", "what can you do", "what do you do", "who are you", "what are you",
        "how does this work", "how do i use you", "how do i use this", "what can i ask",
        "what do you know", "xin chào", "chào", "chào bạn", "alo", "xin chao", "chao",
        "bạn là ai", "bạn làm được gì", "bạn có thể làm gì", "giúp", "giúp tôi", "trợ giúp",
        "hướng dẫn", "tôi có thể hỏi gì",
    ),
    SmallTalk.THANKS: (
        "thanks", "thank you", "thank u", "thx", "tks", "ty", "cheers", "many thanks",
        "thanks a lot", "thank you so much", "thanks so much", "much appreciated",
        "appreciated", "cảm ơn", "cám ơn", "cảm ơn bạn", "cam on", "cám ơn bạn",
    ),
    SmallTalk.BYE: (
        "bye", "goodbye", "good bye", "see you", "see you later", "later", "good night",
        "tạm biệt", "bye bye",
    ),
    SmallTalk.ACK: (
        "ok", "okay", "k", "kk", "cool", "great", "nice", "awesome", "perfect", "good",
        "got it", "noted", "sure", "alright", "all right", "excellent", "wow", "thumbsup",
        "được rồi", "được", "ok rồi", "tốt", "tuyệt", "hay quá", "rõ rồi",
    ),
}
# words that may come along without changing what kind of message it is
_FILLERS = {
    "a", "again", "all", "askdb", "bot", "buddy", "everyone", "folks", "guys", "just",
    "mate", "me", "oh", "pls", "please", "really", "so", "team", "that", "the", "then",
    "there", "this", "very", "well", "ạ", "à", "nhé", "nha", "nhiều", "rất", "vậy", "thì",
}
# which reply a mix of kinds gets ("ok thanks" is thanks, "hi, what can you do" intro)
_PRIORITY = (SmallTalk.INTRO, SmallTalk.THANKS, SmallTalk.BYE, SmallTalk.ACK)
_LOOKUP = {tuple(p.split()): kind for kind, phrases in _PHRASES.items() for p in phrases}
_LONGEST = max(len(p) for p in _LOOKUP)
_MENTION = re.compile(r"<[@#!][^>]*>|@\w+")
_EMOJI_NAMES = {":+1:": " thumbsup ", ":thumbsup:": " thumbsup ", "👍": " thumbsup ",
                "🙏": " thanks ", ":pray:": " thanks "}


def _words(text: str) -> list[str]:
    text = unicodedata.normalize("NFC", _MENTION.sub(" ", text)).lower()
    for name, word in _EMOJI_NAMES.items():
        text = text.replace(name, word)
    # letters, digits and apostrophes make words; punctuation and other emoji go
    return re.findall(r"[^\W_]+(?:'[^\W_]+)?", text)


def classify(text: str) -> SmallTalk | None:
    """The kind of small talk ``text`` is, or None when it may be about the data."""
    words = _words(text)
    if not words or len(words) > 12:
        return None
    kinds: set[SmallTalk] = set()
    i = 0
    while i < len(words):
        for n in range(min(_LONGEST, len(words) - i), 0, -1):
            kind = _LOOKUP.get(tuple(words[i:i + n]))
            if kind is not None:
                kinds.add(kind)
                i += n
                break
        else:
            if words[i] not in _FILLERS:
                return None  # a word small talk does not use: leave it to the model
            i += 1
    return next((kind for kind in _PRIORITY if kind in kinds), None)


def reply(kind: SmallTalk, text: str, tables: Sequence[str]) -> str:
    """What the bot says back, in the language of ``text``."""
    vi = detect_language(text) == "vi"
    if kind is SmallTalk.INTRO:
        return _intro(tables, vi)
    if kind is SmallTalk.THANKS:
        return ("Không có gì! Bạn cứ hỏi tiếp bất cứ lúc nào." if vi
                else "You're welcome! Ask another question whenever you like.")
    if kind is SmallTalk.BYE:
        return ("Tạm biệt! Khi cần, bạn cứ hỏi tôi về dữ liệu." if vi
                else "Bye! I'm here whenever you have a question about the data.")
    return ("Bạn cứ hỏi tiếp về dữ liệu nhé." if vi
            else "Ask another question about the data whenever you like.")


def _intro(tables: Sequence[str], vi: bool) -> str:
    shown = ", ".join(tables[:6])
    more = len(tables) - 6
    example = tables[0] if tables else None
    if vi:
        listed = f" (các bảng: {shown}{f' và {more} bảng khác' if more > 0 else ''})" \
            if tables else ""
        sample = f", ví dụ “Bảng {example} có bao nhiêu dòng?”" if example else ""
        return (f"Xin chào! Tôi trả lời câu hỏi về cơ sở dữ liệu này{listed}. Hãy hỏi "
                f"bằng lời thường{sample}. Tôi trả lời bằng một bảng, câu SQL đã chạy và "
                "một câu ngắn; trong cùng một luồng, bạn có thể hỏi tiếp dựa trên câu trước.")
    listed = f" (tables: {shown}{f' and {more} more' if more > 0 else ''})" if tables else ""
    sample = f", for example “How many rows are in {example}?”" if example else ""
    return (f"Hi! I answer questions about this database{listed}. Ask in plain words"
            f"{sample}. I reply with a table, the SQL I ran and a short answer; in the same "
            "thread you can ask follow-ups that build on the previous question.")
