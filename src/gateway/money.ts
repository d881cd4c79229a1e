/**
 * Money at the HTTP edge: decimal strings in the storage's canonical syntax,
 * checked here so a bad amount never costs a storage round trip. The patterns
 * mirror src/storage/money.ts: plain notation (no sign, exponent or spaces),
 * at most LIMITS.money_scale_max significant fractional digits (trailing zeros
 * are trimmed by the storage, so they are allowed), and fewer integer digits
 * than the limit for the field.
 */
import type { ErrorName } from "../contract/errors.ts";
import { LIMITS } from "../contract/limits.ts";

/** Longest money string the storage parses at all. */
export const MONEY_TEXT_LENGTH_MAX = 64;

export interface MoneyField {
  /** Integer digits allowed: the value is below 10^integerDigitsMax. */
  integerDigitsMax: number;
  /** Is zero acceptable (a rate) or not (a deposit)? */
  zeroAllowed: boolean;
  /** Catalogue name of a syntax error for this field. */
  syntaxError: Extract<ErrorName, "INVALID_AMOUNT" | "INVALID_RATE">;
  /** Catalogue name of a negative value for this field. */
  negativeError: Extract<ErrorName, "AMOUNT_NOT_POSITIVE" | "RATE_NEGATIVE">;
}

export const AMOUNT: MoneyField = {
  integerDigitsMax: LIMITS.amount_integer_digits_max,
  zeroAllowed: false,
  syntaxError: "INVALID_AMOUNT",
  negativeError: "AMOUNT_NOT_POSITIVE",
};

export const RATE: MoneyField = {
  integerDigitsMax: LIMITS.rate_integer_digits_max,
  zeroAllowed: true,
  syntaxError: "INVALID_RATE",
  negativeError: "RATE_NEGATIVE",
};

/** The JSON-schema pattern of a money string for `field` (used by the TypeBox schemas and shown in the OpenAPI document). */
export function moneyPattern(field: MoneyField): string {
  const integer = `(0|[1-9][0-9]{0,${field.integerDigitsMax - 1}})`;
  const fraction = `(\\.[0-9]{1,${LIMITS.money_scale_max}}0*)?`;
  const notZero = field.zeroAllowed ? "" : "(?!0(\\.0+)?$)";
  return `^${notZero}${integer}${fraction}$`;
}

/** Largest whole number accepted as a JSON number for `field`: below 10^digits, and a safe integer. */
export function moneyIntegerMax(field: MoneyField): number {
  return Math.min(10 ** field.integerDigitsMax - 1, Number.MAX_SAFE_INTEGER);
}

/** The decimal string of an accepted value: JSON numbers reach here only as safe integers (the schema says so). */
export function moneyText(value: string | number): string {
  if (typeof value === "string") return value;
  if (!Number.isSafeInteger(value)) throw new RangeError(`money number ${value} is not a safe integer`);
  return value.toString(10);
}

/**
 * Why a value the schema refused is not acceptable money, as a catalogue
 * name, so a client can branch on it (e.g. AMOUNT_SCALE_EXCEEDED) rather than
 * parse a pattern. Exact: works on the digits, never on a float.
 */
export function moneyProblem(value: unknown, field: MoneyField): ErrorName {
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return field.syntaxError;
    if (value < 0) return field.negativeError;
    if (value === 0 && !field.zeroAllowed) return "AMOUNT_NOT_POSITIVE";
    if (!Number.isInteger(value)) return field.syntaxError; // fractions travel as strings, never as binary floats
    return "AMOUNT_OUT_OF_RANGE";
  }
  if (typeof value !== "string" || value.length > MONEY_TEXT_LENGTH_MAX) return field.syntaxError;
  const negative = value.startsWith("-");
  const match = /^(0|[1-9][0-9]*)(?:\.([0-9]+))?$/.exec(negative ? value.slice(1) : value);
  if (match === null) return field.syntaxError;
  if (negative) return field.negativeError;
  const integer = match[1] ?? "0";
  const fraction = (match[2] ?? "").replace(/0+$/, "");
  if (fraction.length > LIMITS.money_scale_max) return "AMOUNT_SCALE_EXCEEDED";
  if (integer.length > field.integerDigitsMax) return "AMOUNT_OUT_OF_RANGE";
  if (!field.zeroAllowed && integer === "0" && fraction === "") return "AMOUNT_NOT_POSITIVE";
  return field.syntaxError;
}

/** The rule of a money field in words, for a refusal's message. */
export function moneyRule(field: MoneyField): string {
  const lowest = field.zeroAllowed ? "zero or more" : "greater than zero";
  return `Expected a decimal string (e.g. "12.5"), ${lowest}, below 10^${field.integerDigitsMax}, `
    + `with at most ${LIMITS.money_scale_max} fractional digits; a JSON number only when whole`;
}
