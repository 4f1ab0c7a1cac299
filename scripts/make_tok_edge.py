#!/usr/bin/python3
"""Writes tests/fixtures/tok/edge.txt: hard tokenizer inputs, one per line
(a tab makes a pair). Raw bytes on purpose: some lines hold invalid UTF-8."""
lines = [
    b"Hello, World!",
    b"",
    b"   ",
    b"Don't you DARE! I'll say we've they're she'd it's  'S 'LL",
    "na\u00efve caf\u00e9 r\u00e9sum\u00e9 \u00c5ngstr\u00f6m \u00dcBER stra\u00dfe \u0130stanbul".encode(),
    "\u4e2d\u6587\u5b57\u7b26and\u65e5\u672c\u8a9e \u30ab\u30bf\u30ab\u30ca \ud55c\uad6d\uc5b4 \uf900x".encode(),
    "I \u2764\ufe0f \U0001f917 \U0001f44d\U0001f3fd emoji!!".encode(),
    b"a\x01b\x7fc\x00d" + "\u200be\u00adf\ufefffin".encode(),
    b"abc\xff\xfedef \xc3( \xe2\x82 \xed\xa0\x80 \xc0\xaf \xf4\x90\x80\x80 end\xe2\x82",
    b"\xef\xbf\xbd literal replacement char",
    b"a" * 150 + b" ok",
    b"supercalifragilistic" * 5 + b" word " + b"x" * 100,
    b"In 2019, 3.14159 and 1,000,000 $5.00 ~~^^`` <html> {x} [y] |z| @#%&*_+=\\",
    "a \u00a0 b\u3000c\u2028d  \r e\u2003f\u0085g".encode(),
    "\u0391\u0392\u0393 \u041f\u0440\u0438\u0432\u0435\u0442 \u041c\u0418\u0420 \u00bfQu\u00e9? \u00a1S\u00ed! \u00ab\u00bb \u201cquoted\u201d \u2014 dash\u2026".encode(),
    "e\u0301 combining n\u0303o \u1e9b\u0323 \u212b \u2126".encode(),
    b"tab\there is a pair",
    b"\tempty first",
    b"empty second\t",
    b"    leading and trailing spaces    \tsecond   half   ",
    b"UPPER lower MiXeD 12ab34 ab12cd",
    b"http://example.com/path?q=1&r=2 user@example.org",
    b"new\nline is split by the file format, so this is two lines",
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22 \u0939\u093f\u0928\u094d\u0926\u0940 \u0627\u0644\u0639\u0631\u0628\u064a\u0629".encode(),
    b"'s't're've'm'll'd ''' \"quoted\"   ",
    b"x" * 3000,
    b"literal [CLS] and [SEP]x[MASK] [UNK][PAD] [sep] <s> </s> a <mask> b  <mask>c <pad><unk>",
    b"[SEP]\t<mask> second",
]
with open("tests/fixtures/tok/edge.txt", "wb") as f:
    f.write(b"\n".join(lines) + b"\n")
