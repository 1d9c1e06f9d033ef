import { detectAll } from 'tinyld';

import { scriptsOf, type Script, type ScriptProfile } from './script.ts';

/** A language guess and how it was reached, in words for the routing record. */
export interface LanguageGuess {
  /** ISO 639-1 where known; 'und' undetermined; 'zxx' no linguistic content (emoji only) */
  code: string;
  /** other likely languages (Han alone may be Chinese or Japanese) */
  alternatives: string[];
  /** 'script' (the script decides), 'english-words', 'detector', 'none' */
  method: 'script' | 'english-words' | 'detector' | 'none';
  confident: boolean;
  /** 'unsure' only for Latin text that is neither recognised as English nor hinted otherwise */
  english: 'yes' | 'no' | 'unsure';
  note: string;
}

// A script used by one language in practice (or whose main language serves as the hint).
const SCRIPT_LANGUAGE: Partial<Record<Script, string>> = {
  Hiragana: 'ja',
  Katakana: 'ja',
  Hangul: 'ko',
  Greek: 'el',
  Hebrew: 'he',
  Thai: 'th',
  Georgian: 'ka',
  Armenian: 'hy',
  Bengali: 'bn',
  Gurmukhi: 'pa',
  Gujarati: 'gu',
  Tamil: 'ta',
  Telugu: 'te',
  Kannada: 'kn',
  Malayalam: 'ml',
  Sinhala: 'si',
  Lao: 'lo',
  Khmer: 'km',
  Myanmar: 'my',
  Tibetan: 'bo',
  Ethiopic: 'am',
  Devanagari: 'hi',
  Arabic: 'ar',
  Cyrillic: 'ru',
};
// For these the detector may pick a sibling language (uk for Cyrillic, fa for Arabic, mr for Devanagari).
const DETECTOR_SCRIPTS = new Set<Script>(['Cyrillic', 'Arabic', 'Devanagari', 'Latin']);
const DETECTOR_MIN_ACCURACY = 0.5;
const ENGLISH_WORD_SHARE = 0.75;

/**
 * Guesses the language: the script decides where it can (kana → ja, Hangul → ko); Latin
 * text is English when most of its words are on nadabot's English word list, else the
 * `tinyld` detector gives a hint, trusted only when it is sure (it is weak on 1–3 words).
 *
 * @example
 * guessLanguage('Frau mit Hut', detectScripts('Frau mit Hut'), english); // { code: 'de', … }
 */
export function guessLanguage(
  text: string,
  profile: ScriptProfile,
  englishWords: ReadonlySet<string>,
): LanguageGuess {
  if (profile.letters === 0) {
    return guess('zxx', 'none', true, 'no letters (emoji, digits or symbols only)');
  }
  const scripts = scriptsOf(profile);
  if (scripts.includes('Hiragana') || scripts.includes('Katakana')) {
    return guess('ja', 'script', true, 'kana present: Japanese');
  }
  if (scripts.includes('Hangul')) return guess('ko', 'script', true, 'Hangul present: Korean');
  if (profile.dominant === 'Han') {
    return {
      ...guess('zh', 'script', false, 'Han characters only: Chinese, or Japanese kanji'),
      alternatives: ['ja'],
    };
  }
  if (profile.mixed) return guessMixed(scripts);
  if (profile.dominant === 'Latin') return guessLatin(text, profile, englishWords);
  return guessByScript(text, profile.dominant as Script);
}

// Latin words around another script ("a 日本人 woman"): the other script names the language.
function guessMixed(scripts: Script[]): LanguageGuess {
  const other = scripts.find((s) => s !== 'Latin') as Script;
  const code = other === 'Han' ? 'zh' : (SCRIPT_LANGUAGE[other] ?? 'und');
  return guess(code, 'script', false, `mixed scripts (${scripts.join(', ')}): read as ${code}`);
}

function guessLatin(
  text: string,
  profile: ScriptProfile,
  english: ReadonlySet<string>,
): LanguageGuess {
  const words = text.toLowerCase().match(/\p{L}[\p{L}\p{M}'’-]*/gu) ?? [];
  const known = words.filter((w) => english.has(w)).length;
  if (!profile.mixed && words.length > 0 && known / words.length >= ENGLISH_WORD_SHARE) {
    return guess(
      'en',
      'english-words',
      true,
      `${known} of ${words.length} words on the English list`,
    );
  }
  const top = detectAll(text)[0];
  if (top && top.accuracy >= DETECTOR_MIN_ACCURACY) {
    return guess(top.lang, 'detector', true, `tinyld: ${top.lang} (${top.accuracy.toFixed(2)})`);
  }
  const hint = top ? `; tinyld's weak guess ${top.lang} (${top.accuracy.toFixed(2)})` : '';
  const und = guess('und', 'none', false, `Latin script, not recognised as English${hint}`);
  // Few English words and a non-English hint ("Skizze", "estatua de bronce"): not English.
  // No hint at all ("Mona Lisa"): a name CLIP may know, so unsure.
  const notEnglish = known / words.length < 0.5 && top !== undefined && top.lang !== 'en';
  return { ...und, alternatives: top ? [top.lang] : [], english: notEnglish ? 'no' : 'unsure' };
}

function guessByScript(text: string, script: Script): LanguageGuess {
  const base = SCRIPT_LANGUAGE[script];
  if (DETECTOR_SCRIPTS.has(script)) {
    const top = detectAll(text)[0];
    if (top && top.accuracy >= DETECTOR_MIN_ACCURACY) {
      return guess(
        top.lang,
        'detector',
        true,
        `${script} script; tinyld: ${top.lang} (${top.accuracy.toFixed(2)})`,
      );
    }
  }
  if (base) return guess(base, 'script', false, `${script} script, most often ${base}`);
  return guess('und', 'none', false, `${script} script; language not determined`);
}

function guess(
  code: string,
  method: LanguageGuess['method'],
  confident: boolean,
  note: string,
): LanguageGuess {
  const english = code === 'en' || code === 'zxx' ? 'yes' : 'no';
  return { code, alternatives: [], method, confident, english, note };
}
