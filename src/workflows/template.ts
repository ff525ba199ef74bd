/**
 * JSON templates of `transform` steps. A string that is exactly one placeholder (`"{{payload.n}}"`)
 * becomes the value at that path, keeping its JSON type; placeholders inside longer strings are
 * interpolated as text. Paths are plain property lookups: nothing is evaluated.
 */
const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const WHOLE = /^\{\{\s*([^{}]*?)\s*\}\}$/;

export function templatePlaceholders(template: unknown): string[] {
  const found: string[] = [];
  walk(template, (text) => {
    for (const match of text.matchAll(PLACEHOLDER)) found.push(match[1]);
  });
  return found;
}

function walk(value: unknown, onString: (text: string) => void): void {
  if (typeof value === 'string') onString(value);
  else if (Array.isArray(value)) value.forEach((item) => walk(item, onString));
  else if (value && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      onString(key);
      walk(item, onString);
    }
  }
}

/** The value at a dotted path, or undefined; own properties only (no prototype lookups). */
export function lookup(context: unknown, path: string): unknown {
  let current: unknown = context;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    if (!Object.prototype.hasOwnProperty.call(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function renderString(text: string, context: unknown): unknown {
  const whole = WHOLE.exec(text);
  if (whole) return lookup(context, whole[1]) ?? null;
  return text.replace(PLACEHOLDER, (_match, path: string) => {
    const value = lookup(context, path);
    if (value === undefined || value === null) return '';
    return typeof value === 'string' ? value : JSON.stringify(value);
  });
}

export function renderTemplate(template: unknown, context: unknown): unknown {
  if (typeof template === 'string') return renderString(template, context);
  if (Array.isArray(template)) return template.map((item) => renderTemplate(item, context));
  if (template && typeof template === 'object') {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(template)) {
      const renderedKey = renderString(key, context);
      // Defined, not assigned: a key "__proto__" (from JSON, or rendered from a payload) stays a key.
      Object.defineProperty(out, typeof renderedKey === 'string' ? renderedKey : JSON.stringify(renderedKey), {
        value: renderTemplate(item, context),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return out;
  }
  return template;
}
