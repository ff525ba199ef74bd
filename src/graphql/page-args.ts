import { IsInt, Max, Min } from 'class-validator';
import { ArgsType, Field, Int } from 'type-graphql';

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

// 0 is a page too: no edges, but the count and whether there is anything to page through.
const FIRST_RANGE = { message: `first must be between 0 and ${MAX_PAGE_SIZE}` };

/** `first` and `after` of every connection field; a field with filters extends it. */
@ArgsType()
export class PageArgs {
  @Field(() => Int, { nullable: true, description: `0 to ${MAX_PAGE_SIZE}; ${DEFAULT_PAGE_SIZE} when omitted.` })
  @IsInt(FIRST_RANGE)
  @Min(0, FIRST_RANGE)
  @Max(MAX_PAGE_SIZE, FIRST_RANGE)
  first?: number | null;

  @Field(() => String, { nullable: true, description: '`pageInfo.endCursor` of the previous page; the page starts after it.' })
  after?: string | null;
}
