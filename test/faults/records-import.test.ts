import {describe, it} from 'vitest'
import {expectJobSurvivesKills} from '../helpers/faults.js'

describe('fault injection: kill -9 at random points of a records import', () => {
  it('loses nothing, duplicates nothing and leaves no wrong state (2 trials)', () => expectJobSurvivesKills('import'), 300_000)
})
