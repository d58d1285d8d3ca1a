import {describe, it} from 'vitest'
import {expectJobSurvivesKills} from '../helpers/faults.js'

describe('fault injection: kill -9 at random points of a consent import', () => {
  it('loses nothing, duplicates nothing and leaves no wrong state (2 trials)', () => expectJobSurvivesKills('consent'), 300_000)
})
