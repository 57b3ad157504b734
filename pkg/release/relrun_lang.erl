%% relrun_lang: what relrun's two node programs (relrun_node.erl, the task;
%% relrun_eval.erl, relrun-pod --eval) start with: the binding Args read, and
%% the expression's language, Elixir or Erlang. Embedded in front of each of
%% them at build time; a sequence of expressions as they are.
%%   lang  0 Elixir, 1 Erlang (the language of the expressions)

Arg = fun(K) -> proplists:get_value(K, Args) end,
Lang = Arg(lang),

%% Evaluate an expression of the task's language; returns its value.
Eval = fun(Text) when Lang =:= 1 ->
               {ok, Toks0, End} = erl_scan:string(unicode:characters_to_list(Text)),
               %% the full stop is optional, as in relrun's Erlang checker
               Toks = case lists:reverse(Toks0) of
                          [{dot, _} | _] -> Toks0;
                          _ -> Toks0 ++ [{dot, End}]
                      end,
               {ok, Exprs} = erl_parse:parse_exprs(Toks),
               {value, V, _} = erl_eval:exprs(Exprs, erl_eval:new_bindings()),
               V;
          (Text) ->
               {V, _} = 'Elixir.Code':eval_string(Text),
               V
       end,
Inspect = fun(V) when Lang =:= 1 ->
                  unicode:characters_to_binary(io_lib:format("~0tP", [V, 50]));
             (V) ->
                  'Elixir.Kernel':inspect(V, [{limit, 50}, {printable_limit, 4096}])
          end,
FormatError = fun(Kind, Reason, Stack) when Lang =:= 1 ->
                      unicode:characters_to_binary(
                        io_lib:format("** ~p: ~tp~n~tp", [Kind, Reason, Stack]));
                 (Kind, Reason, Stack) ->
                      'Elixir.Exception':format(Kind, Reason, Stack)
              end,
Cut = fun(B, Max) when byte_size(B) > Max -> binary_part(B, 0, Max);
         (B, _) -> B
      end,

