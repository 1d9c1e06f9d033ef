import { NadaError } from '../errors.ts';
import { serves, type TextEncoder } from './encoder.ts';
import { englishLexicon } from './english-list.ts';
import { guessLanguage, type LanguageGuess } from './language.ts';
import { markLosses, normalisePrompt, stripMarks, type NormaliseOptions } from './normalise.ts';
import { detectScripts, scriptsOf, type Script, type ScriptProfile } from './script.ts';

/** One CLIP model of the run: its name is its space. */
export interface RunClipModel {
  space: string;
  dim: number;
}

export interface RouteRequest {
  target: string;
  source: string;
  /** the CLIP models the run uses, e.g. ViT-B/32 and ViT-B/16 */
  models: RunClipModel[];
  /** every text encoder loaded, of any space */
  encoders: TextEncoder[];
  /** English renderings the operator supplied, used where no encoder reads the language */
  english?: { target?: string; source?: string };
  normalise?: NormaliseOptions;
  /** the English lexicon (defaults to the shipped understood-as list) */
  englishWords?: ReadonlySet<string>;
}

/** A text after clean-up, with its scripts and language. */
export interface TextAnalysis {
  original: string;
  text: string;
  changes: string[];
  scripts: ScriptProfile;
  language: LanguageGuess;
  /** CLIP's own English encoder reads it as well as any: English, or no letters at all */
  english: boolean;
}

/** What happens to one CLIP model of the run. */
export interface SpaceRoute {
  space: string;
  status: 'encoded' | 'dropped';
  via?: 'clip' | 'multilingual' | 'english-rendering';
  encoderId?: string;
  /** the texts the encoder receives */
  texts?: { target: string; source: string };
  reason: string;
  warnings: string[];
}

/** The routing decision, JSON-serialisable for the run's metadata. */
export interface RoutingRecord {
  target: TextAnalysis;
  source: TextAnalysis;
  routes: SpaceRoute[];
  kept: string[];
  dropped: string[];
}

let defaultLexicon: Set<string> | undefined;

/** Cleans and analyses one text (script, language). */
export function analyseText(
  text: string,
  opts: NormaliseOptions = {},
  englishWords?: ReadonlySet<string>,
): TextAnalysis {
  const clean = normalisePrompt(text, opts);
  const scripts = detectScripts(clean.text);
  const language = guessLanguage(
    clean.text,
    scripts,
    englishWords ?? (defaultLexicon ??= englishLexicon()),
  );
  const english = language.english === 'yes';
  return { ...clean, scripts, language, english };
}

/**
 * Picks, for each CLIP model of the run, the encoder that maps both the target and the source
 * text into its space: CLIP's own for English, else a multilingual encoder serving the
 * language (the source goes through the same one, so the direction is measured inside one
 * encoder), else the operator's English rendering, else the model is dropped. All dropped →
 * `routing.no_encoder`.
 *
 * @example
 * routePrompt({ target: 'ブロンズ像', source: 'photo', models, encoders }).routes[1].reason;
 * // 'Japanese: no text encoder maps Japanese into ViT-B/16 (no multilingual CLIP encoder exists for it); dropped from the run'
 */
export function routePrompt(req: RouteRequest): RoutingRecord {
  const words = req.englishWords;
  const target = analyseText(req.target, { ...req.normalise, label: 'prompt' }, words);
  const source = analyseText(req.source, { ...req.normalise, label: 'source text' }, words);
  const routes = req.models.map((m) => routeSpace(m, target, source, req));
  const record: RoutingRecord = {
    target,
    source,
    routes,
    kept: routes.filter((r) => r.status === 'encoded').map((r) => r.space),
    dropped: routes.filter((r) => r.status === 'dropped').map((r) => r.space),
  };
  if (record.kept.length === 0) {
    throw new NadaError(
      'routing.no_encoder',
      `no CLIP model of this run can take this prompt (${routes.map((r) => r.reason).join('; ')}): ` +
        'add an English rendering, or load a multilingual encoder for one of them',
      { record },
    );
  }
  return record;
}

function routeSpace(
  model: RunClipModel,
  target: TextAnalysis,
  source: TextAnalysis,
  req: RouteRequest,
): SpaceRoute {
  const warnings: string[] = [];
  const fits = req.encoders.filter((e) => e.space === model.space && fitsDim(e, model, warnings));
  const clip = fits.find((e) => e.kind === 'clip');
  const multi = fits.find(
    (e) => e.kind === 'multilingual' && readsText(e, target) && readsText(e, source),
  );
  const lang = languageName(target.language);
  const texts = { target: target.text, source: source.text };

  // English (or no letters) on both sides: CLIP's own encoder, as NADA does.
  if (target.english && source.english) {
    if (clip)
      return encoded(model, clip, 'clip', texts, `${lang}: CLIP's own text encoder`, warnings);
    if (multi) {
      const why = `${lang}: no CLIP text encoder loaded for ${model.space}; ${multi.id} reads English too`;
      return encoded(model, multi, 'multilingual', texts, why, warnings);
    }
  }

  // Another language: a multilingual encoder for this space, used for both texts.
  if (multi) {
    const why =
      `${lang} → ${multi.id}; the source text "${source.text}" goes through the same encoder, ` +
      'so the text direction is measured inside one encoder';
    return encoded(model, multi, 'multilingual', texts, why, warnings);
  }

  // No encoder reads it: the operator's English rendering, if one was given.
  const rendering = englishRendering(target, source, req);
  if (clip && rendering) {
    const why = `no multilingual encoder maps ${lang} into ${model.space}: using the English rendering "${rendering.target}"`;
    return encoded(model, clip, 'english-rendering', rendering, why, warnings);
  }
  if (clip && target.language.english === 'unsure' && source.english) {
    warnings.push(
      `language not recognised (${target.language.note}); CLIP's English encoder may misread it`,
    );
    const why = `language unclear and no multilingual encoder for ${model.space}: CLIP's own text encoder`;
    return encoded(model, clip, 'clip', texts, why, warnings);
  }
  // Name the text no encoder reads: the prompt, or else the source text.
  const foreign = target.english
    ? `the source text "${source.text}" (${languageName(source.language)})`
    : lang;
  return dropped(model, foreign, fits.length > 0, warnings);
}

function encoded(
  model: RunClipModel,
  enc: TextEncoder,
  via: NonNullable<SpaceRoute['via']>,
  texts: { target: string; source: string },
  reason: string,
  warnings: string[],
): SpaceRoute {
  if (enc.stripsMarks) warnings.push(...markWarnings(enc, texts));
  return { space: model.space, status: 'encoded', via, encoderId: enc.id, texts, reason, warnings };
}

function dropped(
  model: RunClipModel,
  what: string,
  anyEncoder: boolean,
  warnings: string[],
): SpaceRoute {
  const none = model.space === 'ViT-B/16' ? ' (no multilingual CLIP encoder exists for it)' : '';
  const missing = anyEncoder ? `no loaded text encoder reads ${what}` : 'no text encoder is loaded';
  const reason = `${missing} for ${model.space}${none}; dropped from the run (an English rendering would keep it)`;
  return { space: model.space, status: 'dropped', reason, warnings };
}

function fitsDim(enc: TextEncoder, model: RunClipModel, warnings: string[]): boolean {
  if (enc.dim === model.dim) return true;
  warnings.push(
    `${enc.id} gives ${enc.dim}-d vectors, ${model.space} here is ${model.dim}-d: not used`,
  );
  return false;
}

function readsText(enc: TextEncoder, a: TextAnalysis): boolean {
  const scripts = scriptsOf(a.scripts).filter((s): s is Script => s !== 'Other');
  // Every released multilingual CLIP encoder learned from the English captions too.
  if (a.language.code === 'en') return true;
  // An undetermined language is read only by an encoder that claims every language.
  if (a.language.code === 'zxx' || a.language.code === 'und') {
    return enc.languages === 'any' && serves(enc, 'und', scripts);
  }
  return [a.language.code, ...a.language.alternatives].some((l) => serves(enc, l, scripts));
}

function englishRendering(target: TextAnalysis, source: TextAnalysis, req: RouteRequest) {
  const t = target.english ? target.text : req.english?.target;
  const s = source.english ? source.text : req.english?.source;
  if (!t || !s) return undefined;
  const clean = (x: string, label: string) => normalisePrompt(x, { ...req.normalise, label }).text;
  return { target: clean(t, 'English rendering'), source: clean(s, 'English rendering') };
}

function markWarnings(enc: TextEncoder, texts: { target: string; source: string }): string[] {
  return Object.values(texts).flatMap((text) => {
    const losses = markLosses(text);
    if (losses.length === 0) return [];
    const list = losses.map((l) => `${l.char}→${l.becomes}`).join(', ');
    return [
      `${enc.id} strips accents and voicing marks: "${text}" reaches it as "${stripMarks(text)}" (${list})`,
    ];
  });
}

const NAMES = new Intl.DisplayNames(['en'], { type: 'language' });

/** 'Japanese', 'English', 'Chinese or Japanese', 'an unrecognised language', 'no words (emoji/symbols)'. */
export function languageName(g: LanguageGuess): string {
  if (g.code === 'zxx') return 'no words (emoji or symbols)';
  if (g.code === 'und') return 'an unrecognised language';
  const name = (c: string) => {
    try {
      return NAMES.of(c) ?? c;
    } catch {
      return c;
    }
  };
  return [g.code, ...g.alternatives].map(name).join(' or ');
}

/** The routing in plain sentences, one per CLIP model, then the warnings. */
export function explainRouting(record: RoutingRecord): string[] {
  return record.routes.flatMap((r) => [
    `${r.space}: ${r.status === 'encoded' ? `${r.encoderId} — ` : 'dropped — '}${r.reason}`,
    ...r.warnings.map((w) => `  warning: ${w}`),
  ]);
}

/** The two texts of one kept space, encoded by its routed encoder. */
export interface EncodedSpace {
  space: string;
  encoderId: string;
  target: Float32Array;
  source: Float32Array;
}

/**
 * Encodes target and source for every kept space with the encoder the routing chose (one
 * call per space, so both texts share the batch).
 */
export async function encodeRouted(
  record: RoutingRecord,
  encoders: TextEncoder[],
): Promise<EncodedSpace[]> {
  const out: EncodedSpace[] = [];
  for (const r of record.routes) {
    if (r.status !== 'encoded' || !r.texts) continue;
    const enc = encoders.find((e) => e.id === r.encoderId && e.space === r.space);
    if (!enc) {
      throw new NadaError(
        'routing.encoder_gone',
        `encoder ${r.encoderId} for ${r.space} is not loaded`,
        {
          space: r.space,
        },
      );
    }
    const [target, source] = await enc.encode([r.texts.target, r.texts.source]);
    out.push({ space: r.space, encoderId: enc.id, target, source });
  }
  return out;
}
