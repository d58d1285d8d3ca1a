import {describe, expect, it} from 'vitest'

import {MedctlError} from '../../src/lib/core/errors.js'
import {
  compileRules,
  decryptValue,
  deidentifyResource,
  deriveExportKeys,
  parseRules,
  type FhirResource,
  type FhirPathRule,
} from '../../src/lib/deid/index.js'
import {KEY, REFERENCE_DATE} from './helpers.js'

const keys = deriveExportKeys(KEY)

function run(rules: FhirPathRule[], resource: FhirResource, parameters: Record<string, unknown> = {}): FhirResource {
  const loaded = compileRules({fhirVersion: 'R4', fhirPathRules: rules, parameters})
  const out = deidentifyResource(
    resource,
    {rules: loaded, keys, referenceDate: REFERENCE_DATE, idTypes: new Map([['p1', 'Patient']])},
    {patientKey: 'p1'},
  )
  return out as FhirResource
}

const obs: FhirResource = {
  resourceType: 'Observation',
  id: 'o1',
  status: 'final',
  code: {coding: [{system: 'http://loinc.org', code: '29463-7', display: 'Body Weight'}], text: 'weight'},
  subject: {reference: 'urn:uuid:p1', display: 'Jane Doe'},
  effectiveDateTime: '2020-03-04T10:11:12+01:00',
  issued: '2020-03-04T10:11:12.000+01:00',
  valueQuantity: {value: 72.5, unit: 'kg', system: 'http://unitsofmeasure.org', code: 'kg'},
  note: [{text: 'patient said hi'}],
}

describe('rule files', () => {
  it('rejects a bad rule with a usage error naming the rule index', () => {
    const bad = {
      fhirVersion: 'R4',
      fhirPathRules: [
        {path: 'Patient.name', method: 'redact'},
        {path: 'Patient.name', method: 'scramble'},
      ],
    }
    try {
      compileRules(bad)
      expect.unreachable()
    } catch (error) {
      expect(error).toBeInstanceOf(MedctlError)
      expect((error as MedctlError).code).toBe('E_RULES_INVALID')
      expect((error as MedctlError).exitCode).toBe(2)
      expect((error as MedctlError).details).toEqual({rule: 1})
      expect((error as MedctlError).message).toMatch(/^rule 1:/)
    }
    expect(() => compileRules({fhirVersion: 'R4', fhirPathRules: [{path: 'Patient.name.where(', method: 'keep'}]})).toThrow(
      /rule 0: .*not valid FHIRPath/,
    )
    expect(() => parseRules('{not json')).toThrow(/not valid JSON/)
    expect(() => compileRules({fhirVersion: 'R4', fhirPathRules: [{path: 'x', method: 'perturb'}]})).toThrow(/rule 0: perturb needs a span/)
  })

  it('hashes the exact bytes of a rule file', () => {
    const a = parseRules('{"fhirVersion":"R4","fhirPathRules":[]}')
    const b = parseRules('{ "fhirVersion": "R4", "fhirPathRules": [] }')
    expect(a.sha256).toMatch(/^[0-9a-f]{64}$/)
    expect(a.sha256).not.toBe(b.sha256)
  })
})

describe('methods', () => {
  it('drops free text no rule keeps, pseudonymises ids and references', () => {
    const out = run([], obs)
    expect(out.id).toMatch(/^[0-9a-f]{32}$/)
    expect(out.id).not.toBe('o1')
    expect(out.subject).toEqual({reference: `Patient/${run([], {resourceType: 'Patient', id: 'p1'}).id}`})
    expect(out.note).toBeUndefined()
    expect((out.code as {text?: string}).text).toBeUndefined()
    expect((out.valueQuantity as {value: number}).value).toBe(72.5)
    expect(out.effectiveDateTime).toBe(obs.effectiveDateTime)
  })

  it('first matching rule wins, ancestors included', () => {
    const out = run(
      [
        {path: 'Observation.code.text', method: 'keep'},
        {path: 'Observation.code', method: 'redact'},
        {path: 'Observation.code.coding.display', method: 'keep'},
      ],
      obs,
    )
    expect(out.code).toEqual({text: 'weight'})
  })

  it('redact with partial dates keeps the year; instants go', () => {
    const out = run([{path: "nodesByType('dateTime') | nodesByType('instant')", method: 'redact'}], obs, {
      enablePartialDatesForRedact: true,
    })
    expect(out.effectiveDateTime).toBe('2020')
    expect(out.issued).toBeUndefined()
  })

  it('dateShift moves every date of a patient by the same number of days', () => {
    const a = run([{path: "nodesByType('dateTime')", method: 'dateShift'}], obs)
    const b = run([{path: "nodesByType('dateTime')", method: 'dateShift'}], {...obs, effectiveDateTime: '2020-03-14T10:11:12+01:00'})
    const da = Date.parse(String(a.effectiveDateTime))
    const db = Date.parse(String(b.effectiveDateTime))
    expect(db - da).toBe(10 * 86_400_000)
    const shift = (da - Date.parse(String(obs.effectiveDateTime))) / 86_400_000
    expect(Math.abs(shift)).toBeLessThanOrEqual(50)
    expect(String(a.effectiveDateTime).slice(10)).toBe('T10:11:12+01:00')
  })

  it('cryptoHash, encrypt and substitute', () => {
    const out = run(
      [
        {path: 'Observation.code.coding.code', method: 'cryptoHash'},
        {path: 'Observation.code.coding.display', method: 'encrypt'},
        {path: 'Observation.status', method: 'substitute', replaceWith: 'unknown'},
        {path: 'Observation.valueQuantity', method: 'substitute', replaceWith: {value: 0, unit: 'kg'}},
      ],
      obs,
    )
    const coding = (out.code as {coding: Array<{code: string; display: string}>}).coding[0]
    expect(coding.code).toMatch(/^[0-9a-f]{64}$/)
    expect(decryptValue(keys, coding.display)).toBe('Body Weight')
    expect(out.status).toBe('unknown')
    expect(out.valueQuantity).toEqual({value: 0, unit: 'kg'})
    expect(run([{path: 'Observation.code.coding.display', method: 'encrypt'}], obs)).toEqual(
      run([{path: 'Observation.code.coding.display', method: 'encrypt'}], obs),
    )
  })

  it('perturb adds bounded, repeatable noise', () => {
    const rules: FhirPathRule[] = [
      {path: 'Observation.value.ofType(Quantity)', method: 'perturb', span: 10, rangeType: 'fixed', roundTo: 1},
    ]
    const v = (run(rules, obs).valueQuantity as {value: number}).value
    expect(Math.abs(v - 72.5)).toBeLessThanOrEqual(5)
    expect(v).not.toBe(72.5)
    expect((run(rules, obs).valueQuantity as {value: number}).value).toBe(v)
    expect((run(rules, obs).valueQuantity as {unit: string}).unit).toBeUndefined() // unit is free text, no rule kept it
  })

  it('generalize maps values through FHIRPath cases', () => {
    const rules: FhirPathRule[] = [
      {
        path: 'Observation.value.ofType(Quantity).value',
        method: 'generalize',
        cases: {'$this < 50': "'light'", '$this >= 50 and $this < 100': "'medium'"},
        otherValues: 'redact',
      },
    ]
    expect((run(rules, obs).valueQuantity as {value: unknown}).value).toBe('medium')
    expect((run(rules, {...obs, valueQuantity: {value: 300}}).valueQuantity as {value?: unknown} | undefined)?.value).toBeUndefined()
  })

  it('partial ZIP codes and ages', () => {
    const p: FhirResource = {
      resourceType: 'Patient',
      id: 'p1',
      address: [{line: ['1 Main St'], city: 'Town', postalCode: '83012-1234', state: 'WY'}, {postalCode: '98052'}],
    }
    const out = run(
      [
        {path: 'Patient.address.state', method: 'keep'},
        {path: 'Patient.address', method: 'redact'},
      ],
      p,
      {
        enablePartialZipCodesForRedact: true,
        restrictedZipPrefixes: ['830'],
      },
    )
    expect(out.address).toEqual([{postalCode: '000', state: 'WY'}, {postalCode: '980'}])
    const cond = (age: number): FhirResource => ({
      resourceType: 'Condition',
      id: 'c',
      onsetAge: {value: age, unit: 'a', system: 'http://unitsofmeasure.org', code: 'a'},
    })
    const ageRules: FhirPathRule[] = [{path: "nodesByType('Age')", method: 'redact'}]
    expect(run(ageRules, cond(45), {enablePartialAgesForRedact: true}).onsetAge).toEqual({
      value: 45,
      unit: 'a',
      system: 'http://unitsofmeasure.org',
      code: 'a',
    })
    expect(run(ageRules, cond(93), {enablePartialAgesForRedact: true}).onsetAge).toBeUndefined()
  })
})

describe('unions in rule paths', () => {
  it('selects every node of each alternative, even when their values are equal', () => {
    const same = {...obs, effectiveDateTime: '2020-03-04T10:11:12.000+01:00'}
    const out = run([{path: "nodesByType('dateTime') | nodesByType('instant')", method: 'redact'}], same)
    expect(out.effectiveDateTime).toBeUndefined()
    expect(out.issued).toBeUndefined()
  })
})

describe('rule scope (issue 14)', () => {
  it('a path that starts with one resource type still applies its other alternatives to every resource', () => {
    const doc: FhirResource = {
      resourceType: 'DocumentReference',
      id: 'd1',
      status: 'current',
      content: [{attachment: {contentType: 'text/plain', url: 'https://ehr.example/Doe.txt', title: 'Jane Doe'}}],
    }
    const rules: FhirPathRule[] = [
      {path: "Patient.photo | nodesByType('Attachment').url | nodesByType('Attachment').title", method: 'redact'},
    ]
    expect((run(rules, doc).content as Array<{attachment: unknown}>)[0].attachment).toEqual({contentType: 'text/plain'})
    expect(compileRules({fhirVersion: 'R4', fhirPathRules: rules}).rules[0].resourceTypes).toBeUndefined()
    expect(
      compileRules({fhirVersion: 'R4', fhirPathRules: [{path: 'Patient.photo | Media.content', method: 'redact'}]}).rules[0].resourceTypes,
    ).toEqual(['Media', 'Patient'])
  })

  it('implicitRules, local codings and non-standard URLs go under safe-harbor on any resource', async () => {
    const {loadBuiltinRules} = await import('../../src/lib/deid/index.js')
    const rules = loadBuiltinRules('safe-harbor')
    const o: FhirResource = {
      resourceType: 'Observation',
      id: 'o2',
      implicitRules: 'https://hospital.example/rules/MRN-123',
      status: 'final',
      code: {
        coding: [
          {system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c'},
          {system: 'https://hospital.example/codes', code: 'ZQ-1', display: 'Doe family panel'},
        ],
      },
    }
    const out = deidentifyResource(o, {rules, keys, referenceDate: REFERENCE_DATE, idTypes: new Map()}, {patientKey: 'p1'}) as FhirResource
    expect(out.implicitRules).toBeUndefined()
    expect(out.code).toEqual({coding: [{system: 'http://loinc.org', code: '4548-4', display: 'Hemoglobin A1c'}]})
  })

  it('a relative keeps no ZIP3 and no year: partial forms apply only where the rule selected the Address or the date', () => {
    const p: FhirResource = {
      resourceType: 'Patient',
      id: 'p1',
      contact: [{address: {postalCode: '98052', state: 'WA'}, period: {start: '2001-02-03'}}],
      address: [{postalCode: '98052'}],
    }
    const out = run(
      [
        {path: 'Patient.contact', method: 'redact'},
        {path: "nodesByType('Address')", method: 'redact'},
      ],
      p,
      {enablePartialZipCodesForRedact: true, enablePartialDatesForRedact: true},
    )
    expect(out.contact).toBeUndefined()
    expect(out.address).toEqual([{postalCode: '980'}])
  })
})

describe('standard cryptography (issue 14, 5)', () => {
  it('encrypt is AES-SIV from @noble/ciphers under its own HKDF-derived key, never the HMAC keys', async () => {
    const {aessiv} = await import('@noble/ciphers/aes.js')
    const {hkdfSync} = await import('node:crypto')
    const k = deriveExportKeys(KEY)
    expect(k.encrypt).toHaveLength(64)
    const expectedKey = Buffer.from(hkdfSync('sha256', KEY, Buffer.from('medctl/deid/v1'), Buffer.from('encrypt/aes-siv'), 64))
    expect(Buffer.compare(k.encrypt, expectedKey)).toBe(0)
    const token = run([{path: 'Observation.code.coding.display', method: 'encrypt'}], obs)
    const display = (token.code as {coding: Array<{display: string}>}).coding[0].display
    expect(Buffer.from(aessiv(expectedKey).decrypt(Buffer.from(display, 'base64'))).toString('utf8')).toBe('Body Weight')
    const hmacKeys = [k.pseudonym, k.dateShift, k.cryptoHash, k.noise].map((b) => b.toString('hex'))
    expect(new Set(hmacKeys).size).toBe(4)
    for (const h of hmacKeys) expect(k.encrypt.toString('hex')).not.toContain(h)
    const overridden = deriveExportKeys(KEY, {encryptKey: 'same words', cryptoHashKey: 'same words'})
    expect(overridden.encrypt.subarray(0, 32).equals(overridden.cryptoHash)).toBe(false)
    expect(() => decryptValue(k, Buffer.from(display, 'base64').fill(1, 0, 4).toString('base64'))).toThrow(/does not decrypt/)
  })
})
