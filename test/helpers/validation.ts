// What a validator refused: the field violations of the ValidationError `fn` throws (anything else fails the test).
import { ValidationError, type FieldViolation } from '../../src/resources/types.js';

export function violationsOf(fn: () => unknown): FieldViolation[] {
  try {
    fn();
  } catch (err) {
    if (err instanceof ValidationError) return err.violations;
    throw err;
  }
  throw new Error('expected a ValidationError');
}
