/**
 * The source text NADA starts from: words for what the base generator already draws (the
 * official examples use "photo" for FFHQ faces, "dog"/"cat" for AFHQ, "church", "car").
 */
const SOURCE_BY_BASE: Record<string, string> = {
  ffhq: 'photo',
  faces: 'photo',
  celeba: 'photo',
  metfaces: 'painting',
  afhqdog: 'dog',
  afhqcat: 'cat',
  afhqwild: 'animal',
  church: 'church',
  car: 'car',
  horse: 'horse',
};

/**
 * Default source text for a base model: `model.json`'s own `source` wins, else a known base
 * name inside the id, else "photo". The person may give any other source, in any language;
 * it is routed like the prompt.
 *
 * @example
 * defaultSourceText('ffhq-1024'); // 'photo'
 * defaultSourceText('afhqdog-512'); // 'dog'
 */
export function defaultSourceText(baseModel: string, declared?: string): string {
  if (declared) return declared;
  const id = baseModel.toLowerCase();
  const key = Object.keys(SOURCE_BY_BASE).find((k) => id.includes(k));
  return key ? SOURCE_BY_BASE[key] : 'photo';
}
