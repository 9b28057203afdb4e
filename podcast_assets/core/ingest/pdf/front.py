"""Front matter: the paper's title, authors and abstract."""

from __future__ import annotations

import re

import pymupdf

from podcast_assets.core.ingest.pdf.layout import Block, Page, join_lines, norm

_BAD_META_TITLE = re.compile(r"^(untitled|microsoft word|title|document\d*)\b|\.(pdf|docx?|tex|dvi)$", re.I)


_BAD_META_AUTHOR = re.compile(r"^(user|admin|administrator|author|owner|unknown|default|root)$", re.I)


_AFFILIATION = re.compile(
    r"universit|institut|department|school|college|laborator|academy|center|centre|inc\b|ltd|group|@|http",
    re.I,
)


ABSTRACT_LABEL = re.compile(r"^abstract\s*[—:.\-–]?\s*", re.I)


def find_title(doc: pymupdf.Document, first: Page) -> tuple[str, list[Block]]:
    """Metadata title when meaningful, else the largest text in the top half of page 1."""
    half = first.page.rect.height * 0.5
    candidates = [b for b in first.blocks if b.role == "paragraph" and b.bbox.y0 < half]
    lines = [(line, b) for b in candidates for line in b.lines if sum(c.isalpha() for c in line.text) >= 3]
    title_blocks: list[Block] = []
    text = ""
    if lines:
        biggest = max(line.size for line, _ in lines)
        chosen = [(line, b) for line, b in lines if line.size >= biggest - 0.5]
        first_y = chosen[0][0].bbox.y0
        kept = [(line, b) for line, b in chosen if line.bbox.y0 - first_y < 4 * biggest]
        text = join_lines([line.text for line, _ in kept])
        title_blocks = list(dict.fromkeys(b for _, b in kept))
    meta = re.sub(r"\s+", " ", (doc.metadata or {}).get("title", "") or "").strip()
    if len(meta) >= 10 and len(meta.split()) >= 2 and not _BAD_META_TITLE.search(meta):
        if not title_blocks or norm(meta)[:30] not in norm(" ".join(b.text for b in title_blocks)):
            title_blocks = [b for b in candidates if norm(b.text) and norm(b.text) in norm(meta)][:3]
        return meta, title_blocks
    return text, title_blocks


def _clean_name(name: str) -> str:
    name = re.sub(r"[\d*†‡§¶∗+,]+$", "", name.strip()).strip()
    return re.sub(r"\s+", " ", name)


def find_authors(doc: pymupdf.Document, first: Page, title_blocks: list[Block]) -> list[str]:
    """Authors from the name lines right below the title (superscripts dropped), else the metadata author."""
    meta = (doc.metadata or {}).get("author", "") or ""
    meta_names = [_clean_name(n) for n in re.split(r";|,| and |&", meta) if _clean_name(n)]
    meta_names = [n for n in meta_names if not _BAD_META_AUTHOR.match(n)]
    found: list[str] = []
    if title_blocks:
        bottom = max(b.bbox.y1 for b in title_blocks)
        below = [b for b in first.blocks if b.bbox.y0 >= bottom - 1 and b not in title_blocks]
        lines = [ln for b in below for ln in b.lines]
        for line in lines[:8]:
            if _AFFILIATION.search(line.plain):
                break
            names = [_clean_name(p) for p in re.split(r",|\band\b|&", line.plain) if _clean_name(p)]
            good = [n for n in names if _looks_like_name(n)]
            if good and len(good) >= 0.6 * len(names):
                found.extend(good)
            elif found:
                break
    if found and (not meta_names or any(norm(m) in norm(" ".join(found)) for m in meta_names)):
        return found
    return meta_names or found


def _looks_like_name(text: str) -> bool:
    words = text.split()
    particles = {"de", "da", "del", "della", "van", "von", "der", "den", "le", "la", "di", "dos", "du"}
    return (
        2 <= len(words) <= 7
        and not re.search(r"[\d@:/]", text)
        and all(w[:1].isupper() or w in particles for w in words)
    )


def find_abstract(pages: list[Page], body_size: float) -> list[Block]:
    """Blocks after an "Abstract" heading (or starting with "Abstract"), else the first long paragraph."""
    candidates = [b for p in pages[:2] for b in p.blocks if b.role in ("paragraph", "heading")]
    for i, block in enumerate(candidates):
        head = norm(block.text)
        if head == "abstract" or head == "summary":
            following = []
            for nxt in candidates[i + 1 :]:
                if nxt.role == "heading" or nxt.section_id != block.section_id and following:
                    break
                if following and abs(nxt.size - following[0].size) > 0.5:
                    break
                following.append(nxt)
            if following:
                block.role = "furniture"
                return following
        if re.match(r"^abstract\b\s*[—:.\-–]", block.text, re.I):
            return [block]
    first = [b for b in pages[0].blocks if b.role == "paragraph" and len(b.text) >= 400]
    return first[:1]
