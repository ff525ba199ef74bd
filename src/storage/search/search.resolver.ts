import DataLoader from 'dataloader';
import type { GraphQLResolveInfo } from 'graphql';
import { Args, ArgsType, Ctx, Field, FieldResolver, Info, Query, Resolver, Root } from 'type-graphql';
import { GatewayContext, loader } from '../../graphql/context';
import { PageConnection, paginate } from '../../graphql/connection';
import { PageArgs } from '../../graphql/page-args';
import type { OrganizationStorage } from '../organization-storage';
import { EntryKind, File, toEntry } from '../storage.types';
import { SearchResult, SearchResultConnection, searchCursors, TextStatus } from './search.types';
import { MAX_QUERY_CHARS } from './search';

type SearchContext = GatewayContext<unknown, { storage: OrganizationStorage }>;

@ArgsType()
class SearchArgs extends PageArgs {
  @Field({
    description: `Words to find (at most ${MAX_QUERY_CHARS} characters), in any order, case and accents ignored; each matches a word of a name or of a file's text, or its start ("quart rev" finds "Quarterly Revenue.pdf").`,
  })
  query: string;

  @Field(() => String, {
    nullable: true,
    description: "Only entries in this folder's tree (an absolute path); none when no folder is there.",
  })
  under?: string | null;

  @Field(() => EntryKind, { nullable: true, description: 'Only folders or only files.' })
  kind?: EntryKind | null;
}

/** Per-request loader: the textStatus of a page of files is one statement. */
function textStatuses(ctx: SearchContext) {
  return loader(
    ctx,
    'storage.textStatuses',
    () =>
      new DataLoader<string, TextStatus | null>(async (ids) => {
        const statuses = await ctx.org.storage.textStatuses(ids);
        return ids.map((id) => (statuses.get(id) as TextStatus | undefined) ?? null);
      }),
  );
}

@Resolver(() => File)
export class FileTextResolver {
  @FieldResolver(() => TextStatus, {
    nullable: true,
    description:
      'Whether the text inside the file is searchable yet; null for a file stored before search existed and not reindexed since.',
  })
  textStatus(@Root() file: File, @Ctx() ctx: SearchContext): Promise<TextStatus | null> {
    return textStatuses(ctx).load(file.id);
  }
}

@Resolver()
export class SearchResolver {
  @Query(() => SearchResultConnection, {
    description: "Folders and files whose name, or whose file's text, holds every word of `query`; best match first.",
  })
  search(
    @Args(() => SearchArgs) args: SearchArgs,
    @Ctx() ctx: SearchContext,
    @Info() info: GraphQLResolveInfo,
  ): Promise<PageConnection<SearchResult>> {
    return paginate(args, info, searchCursors, async (query) => {
      const page = await ctx.org.storage.search({
        ...query,
        query: args.query,
        under: args.under ?? null,
        kind: args.kind ?? null,
      });
      return {
        ...page,
        rows: page.rows.map((row) =>
          Object.assign(new SearchResult(), { node: toEntry(row.entry, row.entry.path), score: row.score, snippet: row.snippet }),
        ),
      };
    });
  }
}

export const searchResolvers = [SearchResolver, FileTextResolver] as const;
