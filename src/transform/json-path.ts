/**
 * The JSONPath subset SageMaker batch transform documents for DataProcessing (InputFilter,
 * OutputFilter), parsed once into a `JsonPath` that selects from a parsed JSON value.
 *
 * Grammar (every path starts with `$`):
 *   step   := '.' name | '.*' | '.'? '[' inside ']'
 *   inside := '*' | quoted (',' quoted)* | item (',' item)*
 *   item   := int | int? ':' int?          (negative ints count from the end)
 * `quoted` is 'name' or "name"; a dot-name is any run of characters but . [ ] ' " * , and space.
 * No recursive descent (`..`), filters or scripts: SageMaker does not document them.
 *
 * Semantics (Jayway JsonPath, which the SageMaker docs point to, where SageMaker is silent):
 * - a path whose steps each pick one thing (`.a`, `['a']`, `[2]`, `['a','b']`) is definite and
 *   selects one value; `['a','b']` selects the object `{a, b}` (Jayway's multi-property read);
 * - `*`, several indexes or a slice make it indefinite: it selects an array of every match;
 * - slices are INCLUSIVE of their end, as SageMaker's data-processing guide states
 *   (`$[1:4]` = the 2nd through 5th columns, `[:5]` = the 1st through the 6th) — unlike RFC 9535;
 *   an omitted start is the first element, an omitted end the last; slices clamp to the array;
 * - an explicit index outside the array, a missing key, or an index into a non-array is an
 *   error (the API: "If you specify indexes that aren't within the dimension size of the joined
 *   dataset, you get an error"); a wildcard or slice never fails.
 *
 * Errors: parse errors are ConfigErrors naming the expression and the 0-based character position;
 * selection errors are DataProcessingErrors naming the expression and the step (data-processing.ts
 * adds the file and record).
 */
import { ConfigError, DataProcessingError } from '../core/errors.js';

export type Step =
  | { readonly kind: 'name'; readonly name: string }
  | { readonly kind: 'names'; readonly names: readonly string[] }
  | { readonly kind: 'wildcard' }
  | { readonly kind: 'items'; readonly items: readonly Item[] };

/** An index (`{ index }`) or an inclusive slice (`{ start?, end? }`). */
export type Item = { readonly index: number } | { readonly start: number | undefined; readonly end: number | undefined };

export interface JsonPath {
  readonly expression: string;
  readonly steps: readonly Step[];
  /** Selects one value (true) or an array of matches (false). */
  readonly definite: boolean;
  /** Whether some step selects by key (such paths cannot apply to CSV rows). */
  readonly usesNames: boolean;
  /** True for `$`: selects its input unchanged. */
  readonly isRoot: boolean;
  select(value: unknown): unknown;
}

const NAME_CHAR = /[^.[\]'"*,\s]/;

class Parser {
  #at = 0;
  constructor(readonly text: string) {}

  fail(problem: string, at = this.#at): never {
    throw new ConfigError(`invalid JSONPath "${this.text}" at position ${at}: ${problem}`, { expression: this.text, position: at });
  }

  get done(): boolean {
    return this.#at >= this.text.length;
  }

  peek(): string | undefined {
    return this.text[this.#at];
  }

  eat(ch: string): boolean {
    if (this.text[this.#at] !== ch) return false;
    this.#at++;
    return true;
  }

  expect(ch: string): void {
    if (!this.eat(ch)) this.fail(`expected "${ch}"${this.done ? ', got the end' : `, got "${this.peek()}"`}`);
  }

  skipSpaces(): void {
    while (this.peek() === ' ') this.#at++;
  }

  name(): string {
    const from = this.#at;
    while (!this.done && NAME_CHAR.test(this.peek() as string)) this.#at++;
    if (this.#at === from) this.fail('expected a name after "."');
    return this.text.slice(from, this.#at);
  }

  quoted(): string {
    const quote = this.peek() as string;
    const from = this.#at;
    this.#at++;
    let out = '';
    while (!this.done && this.peek() !== quote) {
      if (this.eat('\\')) {
        if (this.done) break;
      }
      out += this.peek() as string;
      this.#at++;
    }
    if (this.done) this.fail(`unterminated ${quote === "'" ? 'single' : 'double'}-quoted name`, from);
    this.#at++;
    return out;
  }

  int(): number | undefined {
    const from = this.#at;
    this.eat('-');
    while (!this.done && /[0-9]/.test(this.peek() as string)) this.#at++;
    const digits = this.text.slice(from, this.#at);
    if (digits === '') return undefined;
    if (digits === '-') this.fail('expected digits after "-"', from);
    const n = Number(digits);
    if (!Number.isSafeInteger(n)) this.fail(`index ${digits} is too large`, from);
    return n;
  }

  item(): Item {
    const from = this.#at;
    const start = this.int();
    if (!this.eat(':')) {
      if (start === undefined) this.fail(this.done ? 'expected an index, a slice, a quoted name or "*", got the end' : `expected an index, a slice, a quoted name or "*", got "${this.peek()}"`, from);
      return { index: start };
    }
    const end = this.int();
    if (this.peek() === ':') this.fail('slice steps ([start:end:step]) are not supported');
    return { start, end };
  }

  bracket(): Step {
    this.skipSpaces();
    let step: Step;
    if (this.eat('*')) step = { kind: 'wildcard' };
    else if (this.peek() === "'" || this.peek() === '"') {
      const names = [this.quoted()];
      for (this.skipSpaces(); this.eat(','); this.skipSpaces()) {
        this.skipSpaces();
        if (this.peek() !== "'" && this.peek() !== '"') this.fail('expected a quoted name');
        names.push(this.quoted());
      }
      step = names.length === 1 ? { kind: 'name', name: names[0] as string } : { kind: 'names', names };
    } else {
      const items = [this.item()];
      for (this.skipSpaces(); this.eat(','); this.skipSpaces()) {
        this.skipSpaces();
        items.push(this.item());
      }
      step = { kind: 'items', items };
    }
    this.skipSpaces();
    this.expect(']');
    return step;
  }

  steps(): Step[] {
    if (!this.eat('$')) this.fail('a path must start with "$"');
    const steps: Step[] = [];
    while (!this.done) {
      if (this.eat('.')) {
        if (this.eat('.')) this.fail('recursive descent ("..") is not supported', this.#at - 2);
        if (this.eat('*')) steps.push({ kind: 'wildcard' });
        else if (this.eat('[')) steps.push(this.bracket());
        else steps.push({ kind: 'name', name: this.name() });
      } else if (this.eat('[')) {
        steps.push(this.bracket());
      } else {
        this.fail(`expected "." or "[", got "${this.peek()}"`);
      }
    }
    return steps;
  }
}

function isDefinite(step: Step): boolean {
  return step.kind === 'name' || step.kind === 'names' || (step.kind === 'items' && step.items.length === 1 && 'index' in (step.items[0] as Item));
}

function describe(step: Step): string {
  switch (step.kind) {
    case 'name': return `.${step.name}`;
    case 'names': return `[${step.names.map((n) => `'${n}'`).join(',')}]`;
    case 'wildcard': return '[*]';
    case 'items': return `[${step.items.map((i) => ('index' in i ? String(i.index) : `${i.start ?? ''}:${i.end ?? ''}`)).join(',')}]`;
  }
}

function kindOf(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function applyStep(path: string, step: Step, node: unknown): unknown[] {
  const fail = (problem: string): never => {
    throw new DataProcessingError(`JSONPath "${path}": step ${describe(step)}: ${problem}`, { expression: path, step: describe(step) });
  };
  switch (step.kind) {
    case 'name': {
      if (!isObject(node)) return fail(`expected an object, got ${kindOf(node)}`);
      if (!Object.hasOwn(node, step.name)) return fail(`no key "${step.name}"`);
      return [node[step.name]];
    }
    case 'names': {
      if (!isObject(node)) return fail(`expected an object, got ${kindOf(node)}`);
      const out: Record<string, unknown> = {};
      for (const name of step.names) {
        if (!Object.hasOwn(node, name)) return fail(`no key "${name}"`);
        out[name] = node[name];
      }
      return [out];
    }
    case 'wildcard':
      if (Array.isArray(node)) return node;
      if (isObject(node)) return Object.values(node);
      return [];
    case 'items': {
      if (!Array.isArray(node)) return fail(`expected an array, got ${kindOf(node)}`);
      const n = node.length;
      const out: unknown[] = [];
      for (const item of step.items) {
        if ('index' in item) {
          const i = item.index < 0 ? n + item.index : item.index;
          if (i < 0 || i >= n) return fail(`index ${item.index} is outside the array of ${n} elements`);
          out.push(node[i]);
        } else {
          const from = Math.max(0, item.start === undefined ? 0 : item.start < 0 ? n + item.start : item.start);
          const to = Math.min(n - 1, item.end === undefined ? n - 1 : item.end < 0 ? n + item.end : item.end);
          for (let i = from; i <= to; i++) out.push(node[i]);
        }
      }
      return out;
    }
  }
}

/** Parses `expression` once; ConfigError naming the expression and position if it is not in the subset. */
export function compileJsonPath(expression: string): JsonPath {
  const steps = Object.freeze(new Parser(expression).steps());
  const definite = steps.every(isDefinite);
  return Object.freeze({
    expression,
    steps,
    definite,
    usesNames: steps.some((s) => s.kind === 'name' || s.kind === 'names'),
    isRoot: steps.length === 0,
    select(value: unknown): unknown {
      let nodes: unknown[] = [value];
      for (const step of steps) nodes = nodes.flatMap((node) => applyStep(expression, step, node));
      return definite ? nodes[0] : nodes;
    },
  });
}
