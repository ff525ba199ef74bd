import 'reflect-metadata';
import { checkArgumentRules } from '../../src/graphql/argument-rules';
import { PageArgs } from '../../src/graphql/page-args';

const page = (fields: Partial<PageArgs>) => Object.assign(new PageArgs(), fields);

/** type-graphql's validateFn: class-validator rules of argument classes, each set of values that passed checked once. */
describe('checkArgumentRules', () => {
  it('refuses a broken rule every time, also after other values of the class passed', () => {
    expect(() => checkArgumentRules(page({ first: 50 }))).not.toThrow();
    for (let i = 0; i < 2; i++) {
      expect(() => checkArgumentRules(page({ first: 5_000 }))).toThrow(/first/);
      expect(() => checkArgumentRules(page({ first: -1, after: 'x' }))).toThrow(/first/);
    }
    // The values that passed pass again (from the set of passed values), with or without a cursor.
    expect(() => checkArgumentRules(page({ first: 50 }))).not.toThrow();
    expect(() => checkArgumentRules(page({ first: 50, after: 'abc' }))).not.toThrow();
    expect(() => checkArgumentRules(page({ first: 2.5, after: 'abc' }))).toThrow(/first/);
  });

  it('keeps checking after many distinct values passed (the set of passed values is bounded)', () => {
    for (let i = 0; i < 2_500; i++) checkArgumentRules(page({ first: 10, after: `cursor-${i}` }));
    expect(() => checkArgumentRules(page({ first: 1_000_000, after: 'cursor-1' }))).toThrow(/first/);
  });
});
