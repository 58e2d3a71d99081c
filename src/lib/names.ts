/**
 * A function that reserves and returns a name based on `base` that `used` does not hold yet (`base`, then
 * `base_1`, `base_2`, ...), adding it to `used`.
 */
export function uniqueNamer(used: Set<string>): (base: string) => string {
  return (base) => {
    let name = base;
    for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
    used.add(name);
    return name;
  };
}
