import {describe, it} from 'vitest'
import {expectJobSurvivesKills} from '../helpers/faults.js'

describe('fault injection: kill -9 at random points of a records upload', () => {
  it('loses nothing, duplicates nothing and leaves no wrong state (2 trials)', () => expectJobSurvivesKills('upload'), 300_000)
})
