/**
 * Data classes split a patient's record so consent can be granular. The order is part of the
 * on-chain format: a class's position is its bit in the consent `classes` bitmask. Append only.
 */
export const DATA_CLASSES = [
  'demographics',
  'encounters',
  'conditions',
  'medications',
  'allergies',
  'labs',
  'vitals',
  'procedures',
  'immunizations',
  'imaging',
  'notes',
  'claims',
  'other',
] as const
export type DataClass = (typeof DATA_CLASSES)[number]

export function isDataClass(value: string): value is DataClass {
  return (DATA_CLASSES as readonly string[]).includes(value)
}
