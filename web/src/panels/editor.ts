// Read-only CodeMirror 6 editor with line numbers, Rust/C++ highlighting and one highlighted
// line scrolled to the middle. Loaded lazily by the code panel (its own bundle chunk).

import { EditorState, StateEffect, StateField, type Extension } from '@codemirror/state';
import { Decoration, EditorView, lineNumbers, type DecorationSet } from '@codemirror/view';
import { HighlightStyle, syntaxHighlighting } from '@codemirror/language';
import { rust } from '@codemirror/lang-rust';
import { cpp } from '@codemirror/lang-cpp';
import { tags } from '@lezer/highlight';

const setLine = StateEffect.define<number>();
const lineMark = Decoration.line({ class: 'cm-hl' });

const highlightedLine = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(deco, tr) {
    for (const e of tr.effects)
      if (e.is(setLine)) {
        const line = tr.state.doc.line(Math.max(1, Math.min(tr.state.doc.lines, e.value)));
        return Decoration.set([lineMark.range(line.from)]);
      }
    return deco.map(tr.changes);
  },
  provide: (f) => EditorView.decorations.from(f),
});

const style = HighlightStyle.define([
  { tag: tags.keyword, color: '#ff7b72' },
  { tag: [tags.string, tags.special(tags.string)], color: '#a5d6ff' },
  { tag: tags.comment, color: '#8b949e', fontStyle: 'italic' },
  { tag: [tags.number, tags.bool], color: '#79c0ff' },
  { tag: [tags.typeName, tags.className], color: '#ffa657' },
  { tag: [tags.function(tags.variableName), tags.macroName], color: '#d2a8ff' },
  { tag: tags.definition(tags.variableName), color: '#e6edf3' },
  { tag: tags.attributeName, color: '#7ee787' },
]);

const theme = EditorView.theme(
  {
    '&': { backgroundColor: '#0d1117', color: '#e6edf3' },
    '.cm-gutters': { backgroundColor: '#0d1117', color: '#6e7681', border: 'none' },
    '.cm-content': { fontFamily: "ui-monospace, 'SFMono-Regular', Menlo, monospace" },
  },
  { dark: true },
);

export class ReadOnlyEditor {
  private view: EditorView;
  private text = '';
  private lang: 'rust' | 'cpp' | null = null;

  constructor(parent: HTMLElement) {
    this.view = new EditorView({ parent, state: this.state('', 'rust') });
  }

  private state(doc: string, lang: 'rust' | 'cpp'): EditorState {
    const ext: Extension[] = [
      lineNumbers(),
      EditorState.readOnly.of(true),
      EditorView.editable.of(false),
      syntaxHighlighting(style),
      theme,
      highlightedLine,
      lang === 'rust' ? rust() : cpp(),
    ];
    return EditorState.create({ doc, extensions: ext });
  }

  show(text: string, line: number, lang: 'rust' | 'cpp'): void {
    if (text !== this.text || lang !== this.lang) {
      this.view.setState(this.state(text, lang));
      this.text = text;
      this.lang = lang;
    }
    const l = this.view.state.doc.line(Math.max(1, Math.min(this.view.state.doc.lines, line)));
    this.view.dispatch({
      effects: [setLine.of(line), EditorView.scrollIntoView(l.from, { y: 'center' })],
      selection: { anchor: l.from },
    });
  }
}
