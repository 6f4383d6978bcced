import { describe, expect, it } from '@jest/globals';
import { onlineRetail } from '../../src/profiles/online-retail/index.js';
import { thelook } from '../../src/profiles/thelook/index.js';
import { heldSchema, validatedSchema } from '../../src/stages/validate.js';

describe('validated/ and held/ schemas', () => {
  const repetition = (columns: { name: string; required?: boolean }[]) =>
    Object.fromEntries(columns.map((c) => [c.name, c.required === true]));

  it('make REQUIRED what validation guarantees: required columns and lineage', () => {
    const items = thelook.entities.find((e) => e.name === 'order_items')!;
    expect(repetition(validatedSchema(items))).toEqual({
      id: true,
      order_id: true,
      user_id: false,
      product_id: true,
      status: true,
      created_at: false,
      shipped_at: false,
      delivered_at: false,
      returned_at: false,
      sale_price: true,
      _run_id: true,
      _loaded_at: true,
      _source_file: true,
      _source_row: true,
    });
    expect(repetition(heldSchema(items))).toMatchObject({ id: true, _reasons: false });
  });

  it('leave derived columns OPTIONAL, even marked required: no rule checks them', () => {
    const lines = onlineRetail.entities[0]!;
    const withRequiredDerived = {
      ...lines,
      columns: lines.columns.map((c) => (c.derive ? { ...c, required: true } : c)),
    };
    const derived = lines.columns.filter((c) => c.derive).map((c) => c.name);
    expect(derived.length).toBeGreaterThan(0);
    const schema = repetition(validatedSchema(withRequiredDerived));
    for (const name of derived)
      expect({ name, required: schema[name] }).toEqual({ name, required: false });
  });
});
