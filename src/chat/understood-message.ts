import type { RunRoutingProgress } from '../jobs/progress.ts';
import type { ChatFormat } from './platform.ts';

type Space = RunRoutingProgress['spaces'][number];

/**
 * The understood-as post of a run: for each CLIP model that reads the prompt, the encoder that
 * read it, the language and the nearest English words with their similarities; then the
 * routing's warnings. Models left out are told in their own note.
 *
 * @example
 * understoodMessage(f, routing);
 * // 'Understood as (ViT-B/32 via tiny-xlmr, Japanese): japanese woman 0.31 · woman 0.29 · …'
 */
export function understoodMessage(f: ChatFormat, routing: RunRoutingProgress): string {
  const language = routing.target.language.name;
  const kept = routing.spaces.filter((s) => s.status === 'encoded');
  const lines = kept.map((s) => spaceLine(f, s, language));
  if (routing.model === 'demo' && kept.some((s) => s.understoodAs.length > 0)) {
    lines[0] += ' (demo models: similarities carry no meaning)';
  }
  const warnings = kept.flatMap((s) => s.warnings.map((w) => `Warning: ${f.escape(w)}`));
  return [...lines, ...warnings].join('\n');
}

function spaceLine(f: ChatFormat, s: Space, language: string): string {
  const how = `${s.space} via ${encoderName(s)}, ${language}`;
  if (s.understoodAs.length === 0)
    return f.escape(`Read by ${encoderName(s)} for ${s.space} (${language}).`);
  const words = s.understoodAs.map((e) => `${f.escape(e.phrase)} ${e.similarity.toFixed(2)}`);
  return `Understood as (${f.escape(how)}): ${words.join(' · ')}`;
}

function encoderName(s: Space): string {
  if (s.via === 'clip') return "CLIP's own encoder";
  if (s.via === 'english-rendering') return `CLIP's own encoder on "${s.texts?.target ?? ''}"`;
  return s.encoderId ?? 'a multilingual encoder';
}
