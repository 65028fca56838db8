/** Types of the `unidecode` npm package (1.1.0): one function, string in, ASCII string out. */
declare module 'unidecode' {
  function unidecode(text: string, unknown?: string): string;
  export = unidecode;
}
