"""The page's stylesheet, inline (no external assets): phone and desktop, light and dark."""

from __future__ import annotations

# Emoji fonts come last: the text font first, then whichever colour-emoji font the system has.
FONTS = (
    'system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", "Helvetica Neue", Arial, '
    'sans-serif, "Noto Color Emoji", "Apple Color Emoji", "Segoe UI Emoji"'
)

CSS = """
:root { color-scheme: light dark;
  --bg: #f4f4f1; --card: #ffffff; --text: #1d1d1f; --muted: #5c5f66; --line: #d9dade;
  --link: #0b57d0;
  --sent: #0f6b2f; --sent-bg: #e3f4e8; --refused: #a3140d; --refused-bg: #fde7e5;
  --unknown: #7a4a00; --unknown-bg: #fff1cf; --waiting: #1a4fa0; --waiting-bg: #e5eefd;
  --disabled: #5c5f66; --disabled-bg: #eeeff1; }
@media (prefers-color-scheme: dark) { :root {
  --bg: #111214; --card: #1c1d21; --text: #e9eaee; --muted: #a3a7ae; --line: #3a3c42;
  --link: #8ab4f8;
  --sent: #8fdca6; --sent-bg: #12331d; --refused: #f5a39b;
  --refused-bg: #441613; --unknown: #ffd772; --unknown-bg: #3b2c05; --waiting: #9cc0ff;
  --waiting-bg: #132a4f; --disabled: #a3a7ae; --disabled-bg: #2a2c31; } }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--text); font: 16px/1.45 FONTS; }
main { max-width: 72rem; margin: 0 auto; padding: 1rem; }
a { color: var(--link); }
h1 { margin: .25rem 0; font-size: 1.6rem; }
h2 { font-size: 1.15rem; margin: 1.5rem 0 .5rem; }
.summary { color: var(--muted); margin: 0; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 10px;
  padding: 1rem; margin: 0 0 1rem; }
article.post { display: grid; grid-template-columns: 11rem minmax(0, 1fr); gap: 1rem; }
@media (max-width: 40rem) { main { padding: .6rem; } .card { padding: .75rem; }
  article.post { grid-template-columns: 5.5rem minmax(0, 1fr); gap: .75rem; }
  .pictures { grid-template-columns: minmax(0, 1fr); }
  details.warning summary { font-size: .8rem; padding: .35rem; } }
.pictures { display: grid; gap: .25rem;
  grid-template-columns: repeat(auto-fill, minmax(3.25rem, 1fr)); }
.pictures.single { grid-template-columns: minmax(0, 1fr); }
.pictures img, .placeholder { width: 100%; aspect-ratio: 1; border-radius: 6px; }
.pictures img { object-fit: cover; display: block; }
.placeholder { display: flex; align-items: center; justify-content: center; padding: .3rem;
  border: 1px dashed var(--muted); color: var(--muted); font-size: .8rem; text-align: center;
  overflow-wrap: anywhere; }
details.warning summary { cursor: pointer; font-weight: 600; color: var(--refused);
  background: var(--refused-bg); border-radius: 6px; padding: .45rem .6rem; }
details.warning[open] summary { margin-bottom: .4rem; }
.meta { margin: 0; color: var(--muted); font-size: .9rem; display: flex; flex-wrap: wrap;
  gap: .2rem .6rem; align-items: baseline; }
.meta .name { color: var(--text); font-weight: 600; overflow-wrap: anywhere; }
.outcome { font-weight: 700; text-transform: uppercase; font-size: .75rem;
  letter-spacing: .04em; border-radius: 4px; padding: .1rem .4rem; }
.note { margin: .4rem 0 0; color: var(--muted); overflow-wrap: anywhere; }
.caption { white-space: pre-wrap; overflow-wrap: anywhere; margin: .6rem 0; }
.caption.empty { color: var(--muted); font-style: italic; }
ul.badges { list-style: none; padding: 0; margin: .6rem 0 0; display: flex; flex-wrap: wrap;
  gap: .4rem; }
li.badge { border-radius: 6px; padding: .3rem .55rem; font-size: .9rem; max-width: 100%;
  overflow-wrap: anywhere; }
.badge .platform { font-weight: 700; }
.badge .state { font-weight: 600; }
.sent { color: var(--sent); background: var(--sent-bg); }
.refused, .failed { color: var(--refused); background: var(--refused-bg); }
.unknown, .partial { color: var(--unknown); background: var(--unknown-bg); }
.waiting, .sending, .retrying { color: var(--waiting); background: var(--waiting-bg); }
.disabled, .duplicate { color: var(--disabled); background: var(--disabled-bg); }
.published { color: var(--sent); background: var(--sent-bg); }
.badge a { color: inherit; font-weight: 600; }
ul.plain { list-style: none; margin: 0; padding: 0; }
ul.plain li + li { border-top: 1px solid var(--line); margin-top: .6rem; padding-top: .6rem; }
.file { font-weight: 600; overflow-wrap: anywhere; }
.to-do { font-weight: 600; }
.muted { color: var(--muted); }
""".replace("FONTS", FONTS)
