import { Field, Float, ObjectType, registerEnumType } from 'type-graphql';
import { Connection } from '../../graphql/connection';
import { Cursors, decodeCursor, encodeCursor, notACursor } from '../../graphql/relay';
import { isUuid } from '../../db/ids';
import { Entry } from '../storage.types';
import type { SearchPosition } from './text-store';

export enum TextStatus {
  PENDING = 'PENDING',
  INDEXED = 'INDEXED',
  NOT_TEXT = 'NOT_TEXT',
  FAILED = 'FAILED',
}
registerEnumType(TextStatus, {
  name: 'TextStatus',
  description: "Where reading a file's text for search stands.",
  valuesConfig: {
    PENDING: { description: 'Uploaded or overwritten; its text is being read (its name is searchable already).' },
    INDEXED: { description: 'Its text is searchable.' },
    NOT_TEXT: { description: 'A type whose text is not read (images, archives, …); only its name is searchable.' },
    FAILED: { description: 'Its text could not be read (a corrupt file, or over the size limit); only its name is searchable.' },
  },
});

@ObjectType({ simpleResolvers: true, description: 'An entry that search found.' })
export class SearchResult {
  @Field(() => Entry, { description: 'The folder or file found.' })
  node: Entry;

  @Field(() => Float, {
    description: 'How well it matches, higher first: a match in the name counts 1 and more, one in the text 0 to 1 more.',
  })
  score: number;

  @Field(() => String, {
    nullable: true,
    description:
      "A short excerpt of the file's text around the match, matched words marked `**like this**`; null when only the name matched.",
  })
  snippet: string | null;
}

@ObjectType({ description: 'A page of search results, best match first.' })
export class SearchResultConnection extends Connection(SearchResult, {
  name: 'SearchResult',
  item: 'result',
  items: 'results',
  order: 'best match first (highest score, ties by id)',
  totalCount: 'How many entries match (all pages).',
}) {}

const SEARCH_CURSOR = 'search';

/** Cursors of `search`: the result's score and id (its place in "best first, then by id"). */
export const searchCursors: Cursors<SearchResult, SearchPosition> = {
  encode: (result) => encodeCursor(SEARCH_CURSOR, [result.score, result.node.id]),
  decode(after) {
    const key = decodeCursor(SEARCH_CURSOR, after, 2);
    if (!key) return null;
    const [score, id] = key;
    if (typeof score !== 'number' || !Number.isFinite(score) || typeof id !== 'string' || !isUuid(id)) throw notACursor();
    return { score, id };
  },
};
